"""The target adapter: how peakops talks to an OMS, in one small, documented interface.

Shopper journeys build their requests with it (sent by the load generator's own HTTP
client, so the hot path stays Locust's) and read outcomes with it; stock probes and
the end-of-run resolution of unknown outcomes call it directly. To test another OMS,
implement ``OmsAdapter`` (docs/adapters.md); ``ReferenceOmsAdapter`` is the default.

``place_call`` gets the plan's test customer (``target.testCustomer``) for the OMS's own
customer field; ``cancel_order`` is the end-of-run cleanup's (``collectors.cleanup``).

The calls made directly raise one of ``UNANSWERED`` when the OMS could not answer (a
transport or HTTP error, a body that is not JSON): callers count those. Anything else
an adapter raises is a bug of the adapter (or an API it does not match): callers stop
and report it instead of taking it for a target under chaos.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

__all__ = [
    "UNANSWERED",
    "HttpCall",
    "OmsAdapter",
    "Outcome",
    "ReferenceOmsAdapter",
    "StockRow",
]

UNANSWERED: tuple[type[Exception], ...] = (
    httpx.HTTPError,  # transport errors, timeouts, and raise_for_status on a 4xx/5xx
    json.JSONDecodeError,  # a body that is not JSON (an error page, a cut-off reply)
    UnicodeDecodeError,  # ... or not even text
)
"""What an adapter call raises when the OMS could not answer: counted, not a bug."""

_MISSING = object()


@dataclass(frozen=True)
class HttpCall:
    """A request a journey sends: ``method`` and ``path`` (relative to the OMS URL, or an
    absolute URL when the request goes to another node, such as a store), its JSON body
    and the adapter's own ``headers`` (an OMS's idempotency header, say). The load
    generator adds its run-id tag and trace context, which win over a header of the
    same name."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    headers: Mapping[str, str] | None = None


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
        self, key: str, channel: str, sku: str, qty: int, location: str | None, customer: str
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
    def cancel_order(self, order_id: str, location: str | None) -> Outcome: ...


STORE_CHANNEL = "store"


_REFUSED = (400, 404, 405, 409, 422)
"""Answers that say the OMS did not apply the operation: a definite ``fail``."""


def _unknown(status: int, what: str) -> str:
    """Why an answer leaves an operation's outcome unknown (``info``), for the ledger.

    Status 0 is a transport failure (timeout, reset); 5xx may have been applied; any
    other answer that is neither the expected success nor a refusal (a 2xx whose body
    is not the order) proves nothing either way: resolution asks the OMS afterwards.
    """
    if status == 0:
        return "transport"
    if status >= 500:
        return f"http {status}"
    return f"unexpected http {status}: {what}"


class ReferenceOmsAdapter:
    """The embedded reference OMS: orders on one URL, the inventory (truth) on another.

    ``store_urls`` (location -> URL, e.g. ``{"store-1": "http://127.0.0.1:8200"}``): the
    store nodes. With them the ``store`` channel is sent to a store (a sale to the store
    picked by its idempotency key, a lookup by its SKU), and the store view is what the
    stores show; without them the orders URL serves every channel.

    ``headers`` go with every call it makes itself (probes, resolution, cleanup): the
    run-id tag of synthetic traffic. The test customer goes in the order body's
    ``customer`` field, which the reference OMS ignores (its order schema drops unknown
    fields).
    """

    def __init__(
        self,
        orders_url: str,
        inventory_url: str | None,
        *,
        store_urls: Mapping[str, str] | None = None,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        """``transport``: for tests (``httpx.MockTransport``); default, the network."""

        def client(url: str) -> httpx.Client:
            return httpx.Client(
                base_url=url, timeout=timeout_s, trust_env=False, transport=transport,
                headers=dict(headers or {}),
            )  # fmt: skip

        self._orders = client(orders_url)
        self._inventory = client(inventory_url) if inventory_url else None
        self._store_urls = {loc: url.rstrip("/") for loc, url in sorted((store_urls or {}).items())}
        self._stores = {loc: client(url) for loc, url in self._store_urls.items()}

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
        self, key: str, channel: str, sku: str, qty: int, location: str | None, customer: str
    ) -> HttpCall:
        body = {"idempotency_key": key, "channel": channel, "location": location,
                "lines": [{"sku": sku, "qty": qty}], "customer": customer}  # fmt: skip
        return HttpCall("POST", self._store_for(channel, key) + "/orders", body)

    def place_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome:
        body = body or {}
        if status in (200, 201) and body.get("status") == "confirmed":
            return Outcome("ok", body.get("order_id"), body.get("location"))
        if status == 409:
            return Outcome("fail", body.get("order_id"), reason=str(body.get("reason", "rejected")))
        if status in _REFUSED:
            return Outcome("fail", reason=f"http {status}")
        reason = _unknown(status, "not a confirmed order")
        return Outcome("info", body.get("order_id"), reason=reason)

    def cancel_call(self, order_id: str, channel: str, location: str | None) -> HttpCall:
        store = self._store_urls.get(location or "", "") if channel == STORE_CHANNEL else ""
        return HttpCall("POST", f"{store}/orders/{order_id}/cancel")

    def cancel_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome:
        body = body or {}
        if status == 200 and body.get("status") == "cancelled":
            return Outcome("ok", body.get("order_id"))
        if status in _REFUSED:
            return Outcome("fail", reason=f"http {status}")
        return Outcome("info", reason=_unknown(status, "not a cancelled order"))

    def stock_check_call(self, sku: str, channel: str) -> HttpCall:
        return HttpCall("GET", f"{self._store_for(channel, sku)}/stock/{sku}?channel={channel}")

    # -- what probes and the resolution call ------------------------------------------

    def order_by_key(self, key: str) -> Outcome:
        """Was the order with this idempotency key applied? (resolving an unknown place)

        An order the OMS itself could not settle (``error``: its call to inventory timed
        out; ``pending``: the replica placing it died) is asked of the source of truth:
        inventory knows whether it took stock for that order.
        """
        resp = self._ask_nodes("/orders", {"idempotency_key": key})
        if resp.status_code == 404:
            return Outcome("fail", reason="no such order")
        order = resp.json() if resp.status_code in (200, 503) else {}
        status = order.get("status")
        if status in ("error", "pending") and order.get("order_id"):
            return self._reservation(str(order["order_id"]), str(status))
        if resp.status_code != 200:
            return Outcome("info", reason=f"http {resp.status_code}")
        if status in ("confirmed", "cancelled"):  # cancelled: it was placed, then cancelled
            return Outcome("ok", order.get("order_id"), order.get("location"))
        if status == "rejected":
            return Outcome("fail", order.get("order_id"), reason="out_of_stock")
        return Outcome("info", order.get("order_id"), reason=f"order {status}")

    def _reservation(self, order_id: str, status: str) -> Outcome:
        """Inventory's answer for an order the OMS left ``status`` (``error``/``pending``)."""
        if self._inventory is None:
            return Outcome("info", order_id, reason=f"order {status}")
        resp = self._inventory.get(f"/reservations/{order_id}")
        if resp.status_code == 404:
            return Outcome("fail", order_id, reason=f"order {status}, never reached inventory")
        data = resp.raise_for_status().json()
        if data.get("status") in ("reserved", "released"):
            return Outcome("ok", order_id, data.get("location"), reason=f"order {status}")
        if data.get("status") == "out_of_stock":
            return Outcome("fail", order_id, reason="out_of_stock")
        return Outcome("info", order_id, reason=f"reservation {data.get('status')}")

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
            rows += [
                StockRow(sku, loc, _available(sku, loc, n))
                for loc, n in sorted(data["locations"].items())
            ]
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

    def cancel_order(self, order_id: str, location: str | None) -> Outcome:
        """Cancel a confirmed order (the end-of-run cleanup); ``ok`` if it is cancelled now,
        also when it already was (the OMS answers 200 ``cancelled`` again).

        Asks the store node of a store ``location`` first (its sales live there), else the
        orders service, then the other nodes while the answer is 404: an online order
        shipped from a store's stock lives on the orders service.
        """
        path = f"/orders/{order_id}/cancel"
        store = self._stores.get(location or "")
        nodes = [store] if store is not None else []
        nodes += [self._orders, *(c for c in self._stores.values() if c is not store)]
        resp = nodes[0].post(path)
        for client in nodes[1:]:
            if resp.status_code != 404:
                break
            resp = client.post(path)
        try:
            data = resp.json()
        except ValueError:  # not JSON: an error page; the status says enough
            data = None
        body = data if isinstance(data, dict) else {}
        outcome = self.cancel_outcome(resp.status_code, body)
        reason = outcome.reason
        if outcome.phase != "ok" and body.get("error"):
            reason = f"{reason}: {body['error']}"
        return Outcome(outcome.phase, order_id, location, reason)


def _truth_row(sku: str, location: str, counts: Mapping[str, Any]) -> StockRow:
    """A row of the truth: ``available`` is required; counts the OMS does not expose
    (missing or null ``on_hand``, ``reserved``, ``committed``) are None."""

    def count(name: str) -> int | None:
        value = counts.get(name)
        return None if value is None else _integer(sku, location, name, value)

    return StockRow(
        sku, location, _available(sku, location, counts.get("available", _MISSING)),
        count("on_hand"), count("reserved"), count("committed"),
    )  # fmt: skip


def _available(sku: str, location: str, value: Any) -> int:
    return _integer(sku, location, "available", value)


def _integer(sku: str, location: str, name: str, value: Any) -> int:
    """``value`` as an int; anything else means the adapter does not match the OMS's API
    (a ValueError: a bug to report, not an OMS that could not answer)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    shown = "missing" if value is _MISSING else repr(value)
    raise ValueError(
        f"stock of sku {sku!r} at location {location!r}: {name} is {shown}, expected an "
        "integer (the adapter does not match the oms api)"
    )


def timed(call: Any, *args: Any) -> tuple[float, float, Any]:
    """Run ``call`` and return (sent, received, result) in Unix seconds."""
    t0 = time.time()
    result = call(*args)
    return t0, time.time(), result
