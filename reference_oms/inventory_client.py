"""The orders service's calls to inventory, mapped to a small set of typed outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from opentelemetry.trace import Tracer

from .schemas import Line
from .tracing import client_span

__all__ = ["InventoryClient", "InventoryReply"]

ReplyKind = Literal["reserved", "out_of_stock", "released", "not_found", "not_reserved", "error"]

# Failures before the request could be sent: inventory certainly did not apply it.
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class InventoryReply:
    """What inventory said; `error` means unreachable, timed out, or an unexpected status.

    `unsent` marks an error where the request never left (no connection): unlike a
    timeout or a 5xx, inventory cannot have applied it.
    """

    kind: ReplyKind
    body: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    unsent: bool = False

    @property
    def seq(self) -> int | None:
        """The change-log seq inventory answered with (reserved, released), if any."""
        seq = self.body.get("seq")
        return seq if isinstance(seq, int) else None


class InventoryClient:
    """Reserve, release and health calls over a pooled `httpx.AsyncClient` built by the caller.

    With a `tracer`, each call is a CLIENT span whose context travels in the headers.
    """

    def __init__(self, client: httpx.AsyncClient, tracer: Tracer | None = None) -> None:
        self._client = client
        self._tracer = tracer

    async def reserve(
        self, order_id: str, location: str, lines: Sequence[Line], atomic: bool
    ) -> InventoryReply:
        """Ask inventory to reserve `lines` at `location` for `order_id` (idempotent there)."""
        payload = {
            "order_id": order_id,
            "location": location,
            "lines": [line.model_dump() for line in lines],
            "atomic": atomic,
        }
        return await self._post(
            "/reservations", "/reservations", payload, {200: "reserved", 409: "out_of_stock"}
        )

    async def release(self, order_id: str) -> InventoryReply:
        """Ask inventory to give an order's units back (idempotent there)."""
        return await self._post(
            f"/reservations/{order_id}/release",
            "/reservations/{order_id}/release",
            None,
            {200: "released", 404: "not_found", 409: "not_reserved"},
        )

    async def healthy(self) -> bool:
        """Whether inventory answers its health check (no span: probes are not traced)."""
        try:
            response = await self._client.get("/healthz")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def _post(
        self,
        path: str,
        route: str,
        payload: dict[str, Any] | None,
        kinds: dict[int, ReplyKind],
    ) -> InventoryReply:
        url = str(self._client.base_url.join(path)) if self._tracer is not None else path
        with client_span(self._tracer, "POST", route, url) as call:
            try:
                response = await self._client.post(path, json=payload, headers=call.headers)
                call.status_code = response.status_code
                body = response.json()
            except (httpx.HTTPError, ValueError) as err:
                call.error = repr(err)
                detail = f"inventory {path} failed: {err!r}"
                return InventoryReply("error", detail=detail, unsent=isinstance(err, _UNSENT))
        kind = kinds.get(response.status_code)
        if kind is None:
            return InventoryReply(
                "error", body, f"inventory {path} answered {response.status_code}"
            )
        return InventoryReply(kind, body)
