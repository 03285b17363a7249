"""The plan's ``load:`` block (the order flood) and the limits on its rates, as a
frozen, validated model; ``slo.plan`` re-exports it. Fields are documented in
``docs/plan-file.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Final, Literal, Self

from pydantic import Field, field_validator, model_validator

from slo.conventions import CHANNELS, PROFILES
from slo.fields import PlanModel, Seconds, at_most_s
from slo.issues import raise_issues, show
from slo.target import SEED_MAX, SEED_MIN

__all__ = ["DEFAULT_CHANNEL_MIX", "MAX_DURATION_S", "MAX_RATE_PER_MIN", "Load"]

DEFAULT_CHANNEL_MIX: Final[Mapping[str, float]] = MappingProxyType(
    {"web": 0.4, "app": 0.3, "store": 0.2, "marketplace": 0.1}
)
"""Share of journeys per sales channel when a plan gives no ``load.channels``."""

MAX_DURATION_S: Final = 7 * 24 * 3600.0
"""Longest load: a week-long soak. Longer runs outgrow the run directory (the ledger
alone is ~150 bytes per order) and leave faults' leases, Prometheus and the target
up for longer than anyone watches them."""

MAX_RATE_PER_MIN: Final = 600_000.0
"""Highest rate a plan may ask for, in orders per minute (10,000 journeys/s): several
times what one load machine's Locust processes can pace, and far beyond what a
reference OMS on one host serves. A typo (``baseline: 1e12``) is refused, not tried."""

_MAX_WEIGHT = 1_000_000
"""Channel weights are relative (percentages or order counts both fit); larger ones
only risk an infinite sum."""


class Load(PlanModel):
    """The order flood: traffic profile, model, rates, duration, concurrency and mix.

    Rates are shopper orders per minute (one journey places one order). The profile
    moves the rate between ``baseline_per_min`` (level 0) and ``peak_rate_per_min``
    (level 1) over the run.
    """

    profile: str = "bfcm"
    mode: Literal["open", "closed"] = "open"
    scenario: Literal["shoppers", "url"] = "shoppers"
    """``shoppers``: retail journeys against an OMS. ``url``: each arrival GETs the
    target's ``baseUrl`` once (an ad-hoc flood, like wrk2 ``-R``); rates are then
    requests per minute."""
    duration_s: Annotated[Seconds, at_most_s(MAX_DURATION_S)] = Field(
        gt=0, validation_alias="duration", serialization_alias="duration"
    )
    baseline_per_min: float = Field(
        gt=0, le=MAX_RATE_PER_MIN, validation_alias="baseline", serialization_alias="baseline"
    )
    peak_per_min: float | None = Field(
        default=None, gt=0, le=MAX_RATE_PER_MIN, validation_alias="peak", serialization_alias="peak"
    )
    # Black-Friday peaks run 5-20x normal trading; 100x is a different rehearsal (give
    # ``peak`` then). The resolved peak is also held to MAX_RATE_PER_MIN (_check_peak).
    peak_multiplier: float = Field(default=3.0, ge=1, le=100)
    # 86400: the longest shipped curve (bfcm, 24 h) played in one second; beyond it the
    # whole curve passes inside the first one-second interval. 0.01: a curve stretched
    # 100x (a 1 h flash sale over four days); below it the run sees a flat sliver.
    compression: float | None = Field(default=None, ge=0.01, le=86_400)
    arrivals: Literal["poisson", "uniform"] = "poisson"
    # Journeys in flight, each a greenlet with an open connection to the target: 10k is
    # the file-descriptor budget of one load machine and far past any OMS's pool.
    max_concurrency: int = Field(default=256, ge=1, le=10_000)
    # Simulated shoppers of the closed model: the same budget as maxConcurrency.
    users: int = Field(default=20, ge=1, le=10_000)
    target_orders_per_min: float | None = Field(
        default=None,
        gt=0,
        le=MAX_RATE_PER_MIN,
        validation_alias="targetOrdersPerMinute",
        serialization_alias="targetOrdersPerMinute",
    )
    channels: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_CHANNEL_MIX))
    cancel_ratio: float = Field(default=0.1, ge=0, le=1)
    # Zipf 10 already sends ~99.9 % of orders to the hottest SKU; larger only underflows.
    zipf: float = Field(default=1.1, ge=0, le=10)
    seed: int = Field(default=1, ge=SEED_MIN, le=SEED_MAX)
    trace_sample_ratio: float = Field(default=0.1, ge=0, le=1)
    """Share of requests traced (exported spans); every request carries a
    ``traceparent`` either way. A traced request costs ~80-120 µs of load-generator CPU."""
    # 1000 traced requests/s is ~10 % of a core at ~100 µs each: the cap exists so that
    # tracing stays cheap, and a larger one would defeat it.
    max_traces_per_second: float = Field(default=50.0, gt=0, le=1000)
    """Cap on traced requests per second per load process, so tracing stays cheap at
    any rate (docs/benchmarks.md)."""

    @property
    def peak_rate_per_min(self) -> float:
        """Orders per minute at the profile's peak: ``peak``, else baseline * peakMultiplier."""
        if self.peak_per_min is not None:
            return self.peak_per_min
        return self.baseline_per_min * self.peak_multiplier

    @field_validator("profile")
    @classmethod
    def _check_profile(cls, value: str) -> str:
        if value not in PROFILES:
            raise ValueError(f"unknown profile {value!r} (expected one of: {', '.join(PROFILES)})")
        return value

    @model_validator(mode="after")
    def _check_peak(self) -> Self:
        peak, baseline = self.peak_per_min, self.baseline_per_min
        if peak is not None and peak < baseline:
            message = f"peak ({show(peak)}) must not be below baseline ({show(baseline)})"
            raise_issues("Load", [(("peak",), message, peak)])
        if peak is None and self.peak_rate_per_min > MAX_RATE_PER_MIN:
            message = (
                f"baseline x peakMultiplier = {show(self.peak_rate_per_min)} orders/min, "
                f"expected at most {show(MAX_RATE_PER_MIN)}: lower peakMultiplier or give peak"
            )
            raise_issues("Load", [(("peakMultiplier",), message, self.peak_multiplier)])
        return self

    @field_validator("channels")
    @classmethod
    def _check_channels(cls, value: dict[str, float]) -> dict[str, float]:
        expected = ", ".join(CHANNELS)
        problems: list[tuple[tuple[str | int, ...], str, object]] = [
            ((name,), f"unknown channel {name!r} (expected one of: {expected})", name)
            for name in value
            if name not in CHANNELS
        ]
        problems += [
            ((name,), f"expected a weight from 0 to {_MAX_WEIGHT}, got {show(weight)}", weight)
            for name, weight in value.items()
            if not 0 <= weight <= _MAX_WEIGHT
        ]
        if not problems and sum(value.values()) <= 0:
            problems.append(((), "channel weights must not all be zero", show(value)))
        if problems:
            raise_issues("Load", problems)
        return value
