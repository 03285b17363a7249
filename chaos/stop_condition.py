"""The stop condition (``"module": "chaos.stop_condition"``): halt a fault that burns the SLO.

``stop_on_burn`` runs as a *background* probe beside an experiment's method. While the
fault is active it reads the load process's live metrics over each ``window_s``
(:mod:`chaos.live`) and computes two burn rates:

- the **error burn**: the flood's error ratio divided by the error budget the SLO
  allows (``peakops_error_budget``);
- the **latency burn**, when ``peakops_latency_threshold_ms`` and
  ``peakops_latency_percentile`` are set: the share of ``peakops_latency_endpoint``'s
  requests slower than the threshold divided by the share the SLO allows
  (``1 - percentile / 100``: p99 < 250 ms allows 1 % slow, so 14 % slow burns 14x).

Each window lasts ``window_s`` (``peakops_stop_window_s``, 5 s in a rehearsal: a
burn over one second is a transient, such as the sales in flight when a store's link
is cut, not a burn). When either burn reaches ``peakops_stop_burn_rate`` it records a
``chaos_halted`` event naming that burn and interrupts the experiment with Chaos
Toolkit's graceful exit (SIGUSR1): the method stops where it is and the rollbacks run,
so the fault is healed at once instead of at its planned end. A window without data
(no requests, metrics unreadable) is counted and reported, never taken for a burn of 0.
Without a metrics URL (an experiment run alone, no flood) there is nothing to watch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chaoslib.exit import exit_gracefully

from chaos import live
from chaos.events import append_event
from chaos.settings import ChaosSettings, parse_settings

__all__ = ["Burn", "burns_in", "stop_on_burn"]

Configuration = Mapping[str, Any] | None
MIN_WINDOW_S = 1.0


@dataclass(frozen=True)
class Burn:
    """One burn of one window: ``kind`` ``error`` or ``latency``; ``rate`` None: no data."""

    kind: str
    reading: live.Reading
    allowance: float  # the share (of failed, of slow requests) the SLO allows

    @property
    def rate(self) -> float | None:
        return None if self.reading.value is None else self.reading.value / self.allowance


def burns_in(window: live.Window, settings: ChaosSettings) -> list[Burn]:
    """The error burn, and the latency burn if the settings name a latency SLO."""
    burns = [Burn("error", live.error_ratio_in(window), settings.error_budget)]
    allowance = settings.latency_allowance
    if allowance is not None and settings.latency_threshold_ms is not None:
        slow = live.slow_share_in(window, settings.latency_endpoint, settings.latency_threshold_ms)
        burns.append(Burn("latency", slow, allowance))
    return burns


@dataclass
class _Tally:
    """What the watch saw so far: windows, windows without data, the worst burns."""

    kinds: tuple[str, ...]
    windows: int = 0
    without_data: int = 0
    worst: dict[str, float] = field(default_factory=dict)
    reasons: set[str] = field(default_factory=set)

    def add(self, burns: list[Burn]) -> None:
        self.windows += 1
        missing = [b.reading.no_data for b in burns if b.rate is None]
        if missing:
            self.without_data += 1
            self.reasons.update(missing)
        for burn in burns:
            if burn.rate is not None:
                self.worst[burn.kind] = max(self.worst.get(burn.kind, 0.0), burn.rate)

    def summary(self) -> dict[str, Any]:
        """``windows``, ``windows_without_data``, ``worst_<kind>_burn`` (None: never measured)."""
        worst = {
            f"worst_{kind}_burn": round(self.worst[kind], 2) if kind in self.worst else None
            for kind in ("error", "latency")
        }
        out = {"burns": list(self.kinds), "windows": self.windows,
               "windows_without_data": self.without_data, **worst}  # fmt: skip
        if self.reasons:
            out["no_data"] = sorted(self.reasons)[:5]
        return out


def stop_on_burn(
    duration_s: float,
    window_s: float = 1.0,
    name: str = "",
    configuration: Configuration = None,
    *,
    halt: Callable[[], None] = exit_gracefully,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Watch the burns for ``duration_s``; halt the experiment if one reaches the stop rate."""
    settings = parse_settings(configuration)
    tally = _Tally(("error", "latency") if settings.latency_allowance is not None else ("error",))
    if not settings.metrics_url or settings.dry_run:
        reason = "dry run" if settings.dry_run else live.NO_METRICS_URL
        return {"watched": False, "halted": False, **tally.summary(), "no_data": [reason]}
    deadline = clock() + float(duration_s)
    # Windows of ``window_s`` (the last one cut to what is left of the fault); a tail
    # under a second is too short to tell a burn from a transient, so it is not read.
    while (left := deadline - clock()) >= MIN_WINDOW_S:
        window = live.read_window(settings, min(float(window_s), left), sleep=sleep)
        burns = burns_in(window, settings)
        tally.add(burns)
        tripped = [b for b in burns if _reaches(b.rate, settings.stop_burn_rate)]
        if tripped:
            worst = max(tripped, key=lambda b: b.rate or 0.0)
            result = _halted(settings, name, window, worst, burns) | tally.summary()
            _record_halt(settings, result)
            halt()
            return result
    return {"watched": True, "halted": False, **tally.summary()}


def _reaches(rate: float | None, stop: float) -> bool:
    # 14.4 % slow against a 1 % allowance is 14.399999999999999 in floats: "reaches"
    # must not hinge on the last bit.
    return rate is not None and rate >= stop * (1 - 1e-9)


def _halted(
    settings: ChaosSettings, name: str, window: live.Window, burn: Burn, burns: list[Burn]
) -> dict[str, Any]:
    """The halt's result and ``chaos_halted`` event: which burn, its rate, every figure."""
    detail: dict[str, Any] = {
        "watched": True, "halted": True, "fault": name, "burn": burn.kind,
        "burn_rate": round(burn.rate or 0.0, 2), "stop_burn_rate": settings.stop_burn_rate,
        "window_s": window.seconds, "error_budget": settings.error_budget,
    }  # fmt: skip
    for each in burns:
        share = "error_ratio" if each.kind == "error" else "slow_share"
        value = each.reading.value
        detail[share] = None if value is None else round(value, 4)
        detail[f"{each.kind}_burn"] = None if each.rate is None else round(each.rate, 2)
    threshold_ms = settings.latency_threshold_ms
    if settings.latency_allowance is not None and threshold_ms is not None:
        bound_s = live.slow_bound_s(window, settings.latency_endpoint, threshold_ms)
        detail["latency_endpoint"] = settings.latency_endpoint
        detail["latency_threshold_ms"] = threshold_ms
        detail["latency_percentile"] = settings.latency_percentile
        detail["slow_above_ms"] = None if bound_s is None else round(bound_s * 1000, 3)
    return detail


def _record_halt(settings: ChaosSettings, detail: Mapping[str, Any]) -> None:
    head = f"{detail['burn']} burn {detail['burn_rate']}x (stop at {settings.stop_burn_rate:g}x)"
    window = f"over {detail['window_s']:g} s"
    if detail["burn"] == "latency":
        threshold, bound = settings.latency_threshold_ms, detail["slow_above_ms"]
        slower = f"slower than {bound:g} ms"
        if bound != threshold:
            slower += f" (the first bucket bound at or above {threshold:g} ms)"
        what = (
            f"{detail['slow_share']:.2%} of {settings.latency_endpoint} requests {slower} "
            f"{window}, against the {settings.latency_allowance:.2%} a "
            f"p{settings.latency_percentile:g} < {threshold:g} ms allows"
        )
    else:
        what = (
            f"error ratio {detail['error_ratio']:.2%} {window}, against a "
            f"{settings.error_budget:.2%} error budget"
        )
    print(f"stop condition: {head}: {what}: halting, rolling back", flush=True)
    if settings.events_file:
        append_event(settings.events_file, "chaos_halted", **detail)
