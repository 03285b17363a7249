"""The order-flood user: a shopper checks stock, places an order, sometimes cancels.

Runs in the load process only (``import locust`` patches the process with gevent).
Every request is named ``METHOD /route`` as in ``slo.conventions`` and tagged with
the run id, so a real OMS can tell synthetic orders apart.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any, ClassVar

from locust import constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

from scenarios.shoppers import Catalog, ChannelMix
from slo.conventions import RUN_ID_HEADER

__all__ = ["FloodConfig", "OrderFloodUser", "make_user_class"]

_OK_PLACE = (200, 201, 409)  # 409: rejected, out of stock; a business outcome, not an error
_OK_CANCEL = (200, 409)


@dataclass(frozen=True)
class FloodConfig:
    """What one flood needs to know; built from the plan by the load process."""

    run_id: str
    rate: float
    users: int
    cancel_ratio: float
    catalog: Catalog
    channels: ChannelMix
    seed: int


class OrderFloodUser(FastHttpUser):
    """One shopper. Configured through ``make_user_class``, never used bare."""

    abstract = True
    config: ClassVar[FloodConfig]
    _ids: ClassVar[itertools.count[int]]

    def on_start(self) -> None:
        number = next(self._ids)
        self.rng = random.Random(self.config.seed * 1_000_003 + number)
        self.prefix = f"{self.config.run_id}-u{number}"
        self.serial = itertools.count(1)
        self.headers = {
            RUN_ID_HEADER: self.config.run_id,
            "baggage": f"peakops.run_id={self.config.run_id},peakops.synthetic=true",
        }

    @task
    def journey(self) -> None:
        cfg = self.config
        channel = cfg.channels.pick(self.rng)
        sku = cfg.catalog.pick(self.rng)
        self.client.get(
            f"/stock/{sku}?channel={channel}", name="/stock/{sku}", headers=self.headers
        )
        order_id = self._place(channel, sku)
        if order_id and self.rng.random() < cfg.cancel_ratio:
            self._request("POST", f"/orders/{order_id}/cancel", "/orders/{id}/cancel", _OK_CANCEL)

    def _place(self, channel: str, sku: str) -> str | None:
        body = {
            "idempotency_key": f"{self.prefix}-{next(self.serial)}",
            "channel": channel,
            "location": None,
            "lines": [{"sku": sku, "qty": 1}],
        }
        data = self._request("POST", "/orders", "/orders", _OK_PLACE, json=body)
        if data and data.get("status") == "confirmed":
            return str(data["order_id"])
        return None

    def _request(
        self, method: str, path: str, name: str, ok: tuple[int, ...], **kwargs: Any
    ) -> dict[str, Any] | None:
        with self.client.request(
            method, path, name=name, headers=self.headers, catch_response=True, **kwargs
        ) as resp:
            if resp.status_code not in ok:
                resp.failure(f"HTTP {resp.status_code}")
                return None
            resp.success()
            try:
                data = resp.json()
            except ValueError:
                return None
            return data if isinstance(data, dict) else None


def make_user_class(config: FloodConfig) -> type[OrderFloodUser]:
    """A concrete user class paced so that ``users`` together run ``rate`` journeys/s."""
    return type(
        "ShopperUser",
        (OrderFloodUser,),
        {
            "abstract": False,
            "config": config,
            "_ids": itertools.count(1),
            "wait_time": constant_throughput(config.rate / config.users),
        },
    )
