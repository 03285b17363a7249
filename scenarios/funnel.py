"""Shopper journeys as data: the per-channel funnel and the plan of one journey.

A journey's plan is drawn when it *arrives*, before it is sent or dropped, so the
load process knows exactly what each arrival meant to call: planned requests per
endpoint are counted from plans, not estimated. ``target.maxUnits`` is kept here too:
an order is planned only while the process's ``UnitBudget`` has units left, so once
the run has ordered its cap, shoppers go on browsing without ordering.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlsplit

import yaml

from scenarios.shoppers import Catalog, ChannelMix
from slo.conventions import ENDPOINT_GET_STOCK, ENDPOINT_PLACE_ORDER

__all__ = [
    "ORDER_UNITS",
    "ChannelFunnel",
    "JourneyPlan",
    "JourneyPlanner",
    "UnitBudget",
    "UrlPlanner",
    "UrlVisit",
    "load_funnels",
    "unit_share",
]


ORDER_UNITS = 1
"""Units per order a journey places (``JourneyRunner``: one line of quantity 1)."""


@dataclass(frozen=True)
class ChannelFunnel:
    """How shoppers of one channel behave: products looked at, chance to order."""

    browse: int
    order: float


@dataclass(frozen=True)
class JourneyPlan:
    """What one shopper will do: check stock of ``browse``, maybe order one SKU."""

    channel: str
    browse: tuple[str, ...]
    order_sku: str | None
    cancel: bool


@dataclass(frozen=True)
class UrlVisit:
    """The ``url`` scenario's whole journey: one GET of ``path``."""

    path: str
    endpoint: str


class UrlPlanner:
    """Plans for the ``url`` scenario (an ad-hoc flood of one URL)."""

    def __init__(self, path: str) -> None:
        self.visit = UrlVisit(path or "/", f"GET {urlsplit(path or '/').path or '/'}")

    def orders_per_journey(self) -> float:
        return 1.0

    def expected_calls(self) -> dict[str, float]:
        return {self.visit.endpoint: 1.0}

    def draw(self, t: float) -> UrlVisit:
        return self.visit

    def dropped(self, plan: object) -> None:
        """Nothing to give back: a URL visit orders nothing."""


def load_funnels() -> dict[str, ChannelFunnel]:
    """The shipped funnels (``scenarios/presets/funnels.yaml``)."""
    text = resources.files("scenarios").joinpath("presets/funnels.yaml").read_text()
    return {name: ChannelFunnel(**spec) for name, spec in yaml.safe_load(text).items()}


def unit_share(max_units: int | None, index: int, count: int) -> int | None:
    """Process ``index`` of ``count``'s share of ``max_units`` (None: no cap): the shares
    add up to the cap exactly, the first ``max_units % count`` processes one more."""
    if max_units is None:
        return None
    return max_units // count + (1 if index < max_units % count else 0)


class UnitBudget:
    """Units this process may still order (its share of ``target.maxUnits``).

    ``take`` reserves units for an order before it is planned; once a take is refused
    the budget stays spent (no order slips in later) and ``on_spent(units)`` is called
    once with the units taken. ``give_back`` returns the units of an arrival that was
    dropped before it was sent. ``limit`` None: no cap.
    """

    def __init__(
        self, limit: int | None, on_spent: Callable[[int], object] = lambda _units: None
    ) -> None:
        self.limit = limit
        self.used = 0
        self.spent = False
        self._on_spent = on_spent

    def take(self, units: int) -> bool:
        if self.limit is None:
            return True
        if not self.spent and self.used + units <= self.limit:
            self.used += units
            return True
        if not self.spent:
            self.spent = True
            self._on_spent(self.used)
        return False

    def give_back(self, units: int) -> None:
        if self.limit is not None:
            self.used = max(0, self.used - units)


class JourneyPlanner:
    """Draws journey plans: channel by mix, SKUs by popularity (or hot, in a flash sale)."""

    def __init__(
        self,
        *,
        channels: ChannelMix,
        funnels: Mapping[str, ChannelFunnel],
        catalog: Catalog,
        cancel_ratio: float,
        rng: random.Random,
        hot_skus: int = 0,
        hot_share: Callable[[float], float] = lambda _t: 0.0,
        units: UnitBudget | None = None,
    ) -> None:
        self.channels = channels
        self.funnels = funnels
        self.catalog = catalog
        self.cancel_ratio = cancel_ratio
        self.rng = rng
        self.hot = catalog.hottest(hot_skus) if hot_skus else []
        self.hot_share = hot_share
        self.units = units if units is not None else UnitBudget(None)

    def orders_per_journey(self) -> float:
        """Expected orders per arrival: turns an orders/min profile into arrivals/s."""
        total = sum(self.channels.weights.values())
        return sum(
            weight / total * self.funnels[name].order
            for name, weight in self.channels.weights.items()
        )

    def expected_calls(self) -> dict[str, float]:
        """Paced requests per journey, on average, by endpoint (closed-model planning)."""
        total = sum(self.channels.weights.values())
        browse = sum(
            weight / total * self.funnels[name].browse
            for name, weight in self.channels.weights.items()
        )
        return {ENDPOINT_GET_STOCK: browse, ENDPOINT_PLACE_ORDER: self.orders_per_journey()}

    def dropped(self, plan: object) -> None:
        """An arrival that was dropped (never sent): the units it meant to order go back."""
        if isinstance(plan, JourneyPlan) and plan.order_sku is not None:
            self.units.give_back(ORDER_UNITS)

    def draw(self, t: float) -> JourneyPlan:
        """The plan of a journey arriving ``t`` seconds into the run."""
        rng = self.rng
        channel = self.channels.pick(rng)
        funnel = self.funnels[channel]
        hot = self.hot and rng.random() < self.hot_share(t)
        pick: Callable[[], str] = (lambda: rng.choice(self.hot)) if hot else (
            lambda: self.catalog.pick(rng)
        )  # fmt: skip
        browse = tuple(pick() for _ in range(funnel.browse))
        orders = rng.random() < funnel.order
        order_sku = browse[-1] if orders and browse else (pick() if orders else None)
        cancel = orders and rng.random() < self.cancel_ratio
        # Drawn either way, so the cap changes what journeys order, never the random
        # stream: channels and browsing stay those of the same run without a cap.
        if orders and not self.units.take(ORDER_UNITS):
            order_sku, cancel = None, False
        return JourneyPlan(channel, browse, order_sku, cancel)
