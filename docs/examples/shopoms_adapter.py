"""A peakops target adapter for ShopOMS, an OMS whose API is nothing like the reference's.

Copy this file next to your plan and point the plan at it::

    target:
      kind: url
      baseUrl: http://127.0.0.1:8080
      adapter: shopoms_adapter:ShopOmsAdapter
      adapterOptions: {timeout_s: 3}   # keyword arguments of ShopOmsAdapter.__init__

then run ``peakops target check --plan peak.yaml`` before a rehearsal. ShopOMS (the test
suite's second OMS, ``tests/fixtures/shopoms``) differs from the reference OMS in every
way an adapter has to absorb:

===================  ================================  ==================================
                     reference OMS                     ShopOMS
===================  ================================  ==================================
place an order       POST /orders, 201 confirmed       POST /api/v2/checkout, 202 accepted
sold out             409 ``reason: out_of_stock``      410 ``state: sold_out``
idempotency key      body ``idempotency_key``          ``Idempotency-Token`` header (or
                                                       ``?request=KEY``)
cancel               POST /orders/{id}/cancel          DELETE /api/v2/checkout/{ref}
order lookup         GET /orders?idempotency_key=K     GET /api/v2/checkout?request=K
truth                GET /stock/{sku} (inventory)      GET /api/v2/inventory/{item}
counts               available, on_hand, reserved,     available only
                     committed
channel views        GET /stock/{sku}?channel=web      GET /api/v2/channels/{name}/
                                                       availability/{item}; channels
                                                       online, pos, partner
===================  ================================  ==================================

The load generator sends what ``place_call`` builds: method, path, JSON body and the
adapter's own headers (``HttpCall.headers``), so the idempotency key travels in
ShopOMS's own ``Idempotency-Token`` header; peakops adds its run-id tag beside it.
Whether an order succeeded is this adapter's reading (``place_outcome``: 202 and a
replay's 200 are ``ok``, 410 ``sold_out`` is a ``fail`` for ``out_of_stock``), never a
status list of peakops's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from collectors.adapter import HttpCall, Outcome, StockRow

__all__ = ["DEFAULT_CHANNELS", "TOKEN_HEADER", "ShopOmsAdapter"]

TOKEN_HEADER = "Idempotency-Token"
"""ShopOMS's idempotency header: a retry with the same token is a replay, not a new order."""

DEFAULT_CHANNELS: Mapping[str, str] = {
    "web": "online", "app": "online", "store": "pos", "marketplace": "partner",
}  # fmt: skip
"""peakops sales channel -> ShopOMS channel (``adapterOptions: {channels: {...}}``)."""

_REFUSED = (400, 404, 405, 422)
"""Answers that say ShopOMS did not apply the operation: a definite ``fail``."""


class ShopOmsAdapter:
    """ShopOMS: orders, truth and channel views on one URL (``truth_url`` may move the
    inventory elsewhere). ShopOMS has no store nodes: ``store_urls`` is accepted and
    ignored, and the ``store`` channel is ShopOMS's ``pos`` view."""

    def __init__(
        self,
        base_url: str,
        truth_url: str | None,
        *,
        store_urls: Mapping[str, str] | None = None,
        timeout_s: float = 5.0,
        channels: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``headers``: peakops's run-id tag, sent with every call made here (probes,
        lookups, cleanup); ``transport``: for tests (``httpx.MockTransport``)."""

        def client(url: str) -> httpx.Client:
            return httpx.Client(base_url=url, timeout=timeout_s, trust_env=False,
                                headers=dict(headers or {}), transport=transport)  # fmt: skip

        self._channels = {**DEFAULT_CHANNELS, **(channels or {})}
        self._http = client(base_url)
        self._truth = client(truth_url) if truth_url else self._http

    def close(self) -> None:
        self._http.close()
        self._truth.close()

    def _channel(self, channel: str) -> str:
        return self._channels.get(channel, channel)

    # -- requests the journeys send -------------------------------------------------

    def place_call(
        self,
        key: str,
        channel: str,
        sku: str,
        qty: int,
        location: str | None,
        customer: str = "peakops-synthetic",
    ) -> HttpCall:
        body = {"item": sku, "units": qty, "buyer": customer, "channel": self._channel(channel),
                "warehouse": location}  # fmt: skip
        return HttpCall("POST", "/api/v2/checkout", body, headers={TOKEN_HEADER: key})

    def place_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome:
        body = body or {}
        state = body.get("state")
        if status in (200, 202) and state in ("accepted", "cancelled"):
            # 200: a replay of this key; cancelled since, but it was placed.
            return Outcome("ok", body.get("ref"), body.get("warehouse"))
        if status == 410 and state == "sold_out":
            return Outcome("fail", body.get("ref"), reason="out_of_stock")
        if status in _REFUSED:
            return Outcome("fail", reason=f"http {status}")
        return Outcome("info", body.get("ref"), reason=_unknown(status, state))

    def cancel_call(self, order_id: str, channel: str, location: str | None) -> HttpCall:
        return HttpCall("DELETE", f"/api/v2/checkout/{quote(order_id, safe='')}")

    def cancel_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome:
        body = body or {}
        if status == 200 and body.get("state") == "cancelled":
            return Outcome("ok", body.get("ref"), body.get("warehouse"))
        if status in (*_REFUSED, 409):  # 409: a sold-out checkout has nothing to cancel
            return Outcome("fail", reason=f"http {status}")
        return Outcome("info", reason=_unknown(status, body.get("state")))

    def cancel_order(self, order_id: str, location: str | None) -> Outcome:
        """Cancel now (cleanup, ``peakops target check``): the outcome of the DELETE."""
        call = self.cancel_call(order_id, "web", location)
        resp = self._http.request(call.method, call.path)
        return self.cancel_outcome(resp.status_code, _body(resp))

    def stock_check_call(self, sku: str, channel: str) -> HttpCall:
        return HttpCall("GET", self._availability(sku, channel))

    # -- what probes and the resolution call ------------------------------------------

    def order_by_key(self, key: str) -> Outcome:
        resp = self._http.get("/api/v2/checkout", params={"request": key})
        if resp.status_code == 404:
            return Outcome("fail", reason="no such checkout")
        checkout = resp.raise_for_status().json()
        state = checkout.get("state")
        if state in ("accepted", "cancelled"):
            return Outcome("ok", checkout.get("ref"), checkout.get("warehouse"))
        if state == "sold_out":
            return Outcome("fail", checkout.get("ref"), reason="out_of_stock")
        return Outcome("info", checkout.get("ref"), reason=f"checkout {state}")

    def order_cancelled(self, order_id: str) -> Outcome:
        resp = self._http.get(f"/api/v2/checkout/{quote(order_id, safe='')}")
        if resp.status_code == 404:
            return Outcome("fail", order_id, reason="no such checkout")
        state = resp.raise_for_status().json().get("state")
        if state == "cancelled":
            return Outcome("ok", order_id)
        if state in ("accepted", "sold_out"):
            return Outcome("fail", order_id, reason=state)
        return Outcome("info", order_id, reason=f"checkout {state}")

    def read_truth(self, sku: str) -> list[StockRow]:
        data = self._truth.get(f"/api/v2/inventory/{quote(sku, safe='')}").raise_for_status()
        return _rows(sku, data.json()["warehouses"])

    def read_all_truth(self) -> list[StockRow]:
        data = self._truth.get("/api/v2/inventory").raise_for_status().json()
        rows: list[StockRow] = []
        for entry in data["inventory"]:  # one call for the start and final snapshots
            rows += _rows(str(entry["item"]), entry["warehouses"])
        return rows

    def read_view(self, sku: str, channel: str) -> list[StockRow]:
        data = self._http.get(self._availability(sku, channel)).raise_for_status().json()
        return _rows(sku, data["warehouses"])

    def list_skus(self) -> list[str]:
        data = self._truth.get("/api/v2/items").raise_for_status().json()
        return [str(entry["item"]) for entry in data["items"]]

    def _availability(self, sku: str, channel: str) -> str:
        name = quote(self._channel(channel), safe="")
        return f"/api/v2/channels/{name}/availability/{quote(sku, safe='')}"


def _rows(sku: str, warehouses: list[dict[str, Any]]) -> list[StockRow]:
    """ShopOMS shows ``available`` only: on hand, reserved and committed are unknown (None),
    so the drift checker skips the conservation check and judges everything else."""
    return [
        StockRow(sku, str(w["warehouse"]), _available(sku, w), None, None, None)
        for w in sorted(warehouses, key=lambda w: str(w["warehouse"]))
    ]


def _available(sku: str, warehouse: Mapping[str, Any]) -> int:
    value = warehouse.get("available")
    if type(value) is not int:  # a mismatch with the api, not an oms that could not answer
        raise ValueError(
            f"stock of sku {sku!r} at {warehouse.get('warehouse')!r}: available is {value!r}, "
            "expected an integer (the adapter does not match the oms api)"
        )
    return value


def _unknown(status: int, state: object) -> str:
    """Why an answer leaves the outcome unknown (``info``): no answer, a 5xx (it may have
    been applied), or an answer that is neither the success nor a refusal."""
    if status == 0:
        return "transport"
    if status >= 500:
        return f"http {status}"
    return f"unexpected http {status} (state {state!r})"


def _body(resp: httpx.Response) -> dict[str, Any] | None:
    try:
        data = resp.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
