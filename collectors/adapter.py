"""The target adapter: how peakops talks to an OMS, in one small, documented interface.

Shopper journeys build their requests with it (sent by the load generator's own HTTP
client, so the hot path stays Locust's) and read outcomes with it; stock probes and
the end-of-run resolution of unknown outcomes call it directly. To test another OMS,
implement ``OmsAdapter`` (docs/adapters.md); ``ReferenceOmsAdapter`` is the default.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

__all__ = [
    "HttpCall",
    "OmsAdapter",
    "Outcome",
    "ReferenceOmsAdapter",
    "StockRow",
]


@dataclass(frozen=True)
class HttpCall:
    """A request a journey sends: ``method`` and ``path`` (relative to the OMS URL, or an
    absolute URL when the request goes to another node, such as a store)."""

    method: str
    path: str
    json: dict[str, Any] | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of an order operation: ``ok`` applied, ``fail`` not, ``info`` unknown."""

    phase: str
    order_id: str | None = None
    location: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class StockRow:
    """One stock reading for a SKU at a location (from the truth or a channel view)."""

    sku: str
    location: str
    available: int
    on_hand: int | None = None
    reserved: int | None = None
    committed: int | None = None


class OmsAdapter(Protocol):
    """Everything peakops needs from an OMS."""

    def place_call(
        self, key: str, channel: str, sku: str, qty: int, location: str | None
    ) -> HttpCall: ...
    def place_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome: ...
    def cancel_call(self, order_id: str, channel: str, location: str | None) -> HttpCall: ...
    def cancel_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome: ...
    def stock_check_call(self, sku: str, channel: str) -> HttpCall: ...
    def order_by_key(self, key: str) -> Outcome: ...
    def order_cancelled(self, order_id: str) -> Outcome: ...
    def read_truth(self, sku: str) -> list[StockRow]: ...
    def read_all_truth(self) -> list[StockRow]: ...
    def read_view(self, sku: str, channel: str) -> list[StockRow]: ...
    def list_skus(self) -> list[str]: ...


STORE_CHANNEL = "store"


def _transport_unknown(status: int) -> bool:
    """Status 0 is a transport failure (timeout, reset); 5xx may have been applied."""
    return status == 0 or status >= 500


class ReferenceOmsAdapter:
    """The embedded reference OMS: orders on one URL, the inventory (truth) on another.

    ``store_urls`` (location -> URL, e.g. ``{"store-1": "http://127.0.0.1:8200"}``): the
    store nodes. With them the ``store`` channel is sent to a store (a sale to the store
    picked by its idempotency key, a lookup by its SKU), and the store view is what the
    stores show; without them the orders URL serves every channel.
    """

    def __init__(
        self,
        orders_url: str,
        inventory_url: str | None,
        *,
        store_urls: Mapping[str, str] | None = None,
        timeout_s: float = 5.0,
    ):
        self._orders = httpx.Client(base_url=orders_url, timeout=timeout_s, trust_env=False)
        self._inventory = (
            httpx.Client(base_url=inventory_url, timeout=timeout_s, trust_env=False)
            if inventory_url
            else None
        )
        self._store_urls = {loc: url.rstrip("/") for loc, url in sorted((store_urls or {}).items())}
        self._stores = {
            loc: httpx.Client(base_url=url, timeout=timeout_s, trust_env=False)
            for loc, url in self._store_urls.items()
        }

    def close(self) -> None:
        self._orders.close()
        if self._inventory is not None:
            self._inventory.close()
        for client in self._stores.values():
            client.close()

    def _store_for(self, channel: str, name: str) -> str:
        """The URL prefix for a ``channel`` request about ``name``: '' (orders) or a store."""
        if channel != STORE_CHANNEL or not self._store_urls:
            return ""
        urls = list(self._store_urls.values())
        return urls[zlib.crc32(name.encode()) % len(urls)]

    # -- requests the journeys send -------------------------------------------------

    def place_call(
        self, key: str, channel: str, sku: str, qty: int, location: str | None
    ) -> HttpCall:
        body = {"idempotency_key": key, "channel": channel, "location": location,
                "lines": [{"sku": sku, "qty": qty}]}  # fmt: skip
        return HttpCall("POST", self._store_for(channel, key) + "/orders", body)

    def place_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome:
        body = body or {}
        if status in (200, 201) and body.get("status") == "confirmed":
            return Outcome("ok", body.get("order_id"), body.get("location"))
        if status == 409:
            return Outcome("fail", body.get("order_id"), reason=str(body.get("reason", "rejected")))
        if _transport_unknown(status):
            return Outcome(
                "info", body.get("order_id"), reason=f"http {status}" if status else "transport"
            )
        return Outcome("fail", reason=f"http {status}")

    def cancel_call(self, order_id: str, channel: str, location: str | None) -> HttpCall:
        store = self._store_urls.get(location or "", "") if channel == STORE_CHANNEL else ""
        return HttpCall("POST", f"{store}/orders/{order_id}/cancel")

    def cancel_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome:
        if status == 200:
            return Outcome("ok", (body or {}).get("order_id"))
        if _transport_unknown(status):
            return Outcome("info", reason=f"http {status}" if status else "transport")
        return Outcome("fail", reason=f"http {status}")

    def stock_check_call(self, sku: str, channel: str) -> HttpCall:
        return HttpCall("GET", f"{self._store_for(channel, sku)}/stock/{sku}?channel={channel}")

    # -- what probes and the resolution call ------------------------------------------

    def order_by_key(self, key: str) -> Outcome:
        """Was the order with this idempotency key applied? (resolving an unknown place)"""
        resp = self._ask_nodes("/orders", {"idempotency_key": key})
        if resp.status_code == 404:
            return Outcome("fail", reason="no such order")
        if resp.status_code != 200:
            return Outcome("info", reason=f"http {resp.status_code}")
        order = resp.json()
        status = order.get("status")
        if status in ("confirmed", "cancelled"):  # cancelled: it was placed, then cancelled
            return Outcome("ok", order.get("order_id"), order.get("location"))
        if status == "rejected":
            return Outcome("fail", order.get("order_id"), reason="out_of_stock")
        return Outcome("info", order.get("order_id"), reason=f"order {status}")

    def order_cancelled(self, order_id: str) -> Outcome:
        """Was this order cancelled? (resolving an unknown cancel)"""
        resp = self._ask_nodes(f"/orders/{order_id}", {})
        if resp.status_code != 200:
            return Outcome("info", order_id, reason=f"http {resp.status_code}")
        status = resp.json().get("status")
        return Outcome("ok" if status == "cancelled" else "fail", order_id, reason=status)

    def read_truth(self, sku: str) -> list[StockRow]:
        if self._inventory is None:
            return []
        data = self._inventory.get(f"/stock/{sku}").raise_for_status().json()
        return [_truth_row(sku, loc, counts) for loc, counts in sorted(data["locations"].items())]

    def read_all_truth(self) -> list[StockRow]:
        if self._inventory is None:
            return []
        data = self._inventory.get("/stock").raise_for_status().json()
        return [
            _truth_row(sku, loc, counts)
            for sku, locations in sorted(data["stock"].items())
            for loc, counts in sorted(locations.items())
        ]

    def read_view(self, sku: str, channel: str) -> list[StockRow]:
        nodes = list(self._stores.values()) if channel == STORE_CHANNEL and self._stores else []
        rows: list[StockRow] = []
        for client in nodes or [self._orders]:
            resp = client.get(f"/stock/{sku}", params={"channel": channel})
            data = resp.raise_for_status().json()
            rows += [StockRow(sku, loc, int(n)) for loc, n in sorted(data["locations"].items())]
        return rows

    def _ask_nodes(self, path: str, params: dict[str, str]) -> httpx.Response:
        """GET ``path`` from orders, then from each store while the answer is 404."""
        resp = self._orders.get(path, params=params)
        for client in self._stores.values():
            if resp.status_code != 404:
                break
            resp = client.get(path, params=params)
        return resp

    def list_skus(self) -> list[str]:
        if self._inventory is None:
            return []
        return list(self._inventory.get("/skus").raise_for_status().json()["skus"])


def _truth_row(sku: str, location: str, counts: dict[str, Any]) -> StockRow:
    return StockRow(
        sku, location, int(counts["available"]), int(counts["on_hand"]),
        int(counts["reserved"]), int(counts["committed"]),
    )  # fmt: skip


def timed(call: Any, *args: Any) -> tuple[float, float, Any]:
    """Run ``call`` and return (sent, received, result) in Unix seconds."""
    t0 = time.time()
    result = call(*args)
    return t0, time.time(), result
