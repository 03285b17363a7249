"""The replies the orders replicas and the store node share: invalid input, an order or
404, and the orders counter both export."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter
from starlette.responses import JSONResponse, Response

__all__ = ["Reply", "invalid", "invalid_response", "order_or_404", "orders_counter"]

Reply = tuple[int, dict[str, Any]]
"""An HTTP status and its JSON body, decided away from the routing."""


def invalid(message: str) -> Reply:
    """422: the request was understood but cannot be served as asked."""
    return 422, {"status": "invalid", "error": message}


def invalid_response(message: str) -> Response:
    code, body = invalid(message)
    return JSONResponse(body, status_code=code)


def order_or_404(order: dict[str, Any] | None, wanted: str) -> Response:
    """The stored order, or 404 naming the id or key that was asked for."""
    if order is None:
        return JSONResponse(
            {"status": "not_found", "error": f"no order {wanted!r}"}, status_code=404
        )
    return JSONResponse(order)


def orders_counter(registry: CollectorRegistry) -> Counter:
    """``oms_orders_total{channel, outcome}``, the same series on every order-taking node."""
    return Counter(
        "oms_orders_total",
        "Order operations by channel and outcome.",
        ["channel", "outcome"],
        registry=registry,
    )
