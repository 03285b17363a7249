"""The stop condition (``"module": "chaos.stop_condition"``): halt a fault that burns the SLO.

``stop_on_burn`` runs as a *background* probe beside an experiment's method. While the
fault is active it reads the flood's error ratio every ``window_s`` (the load
process's live metrics, like ``chaos.probes.error_ratio``) and divides it by the
error budget the SLO allows (``peakops_error_budget``). When that burn rate reaches
``peakops_stop_burn_rate`` it records a ``chaos_halted`` event and interrupts the
experiment with Chaos Toolkit's graceful exit (SIGUSR1): the method stops where it
is and the rollbacks run, so the fault is healed at once instead of at its planned end.
Without a metrics URL (an experiment run alone, no flood) there is nothing to watch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from chaoslib.exit import exit_gracefully

from chaos.events import append_event
from chaos.probes import error_ratio
from chaos.settings import ChaosSettings, parse_settings

__all__ = ["stop_on_burn"]

Configuration = Mapping[str, Any] | None


def stop_on_burn(
    duration_s: float,
    window_s: float = 1.0,
    name: str = "",
    configuration: Configuration = None,
    *,
    halt: Callable[[], None] = exit_gracefully,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Watch the burn for ``duration_s``; halt the experiment if it passes the stop threshold."""
    settings = parse_settings(configuration)
    if not settings.metrics_url or settings.dry_run:
        return {"watched": False, "halted": False}
    deadline = clock() + float(duration_s)
    worst = 0.0
    while clock() < deadline:
        ratio = error_ratio(float(window_s), configuration)  # waits window_s
        burn = ratio / settings.error_budget
        worst = max(worst, burn)
        if burn >= settings.stop_burn_rate:
            result = {
                "watched": True, "halted": True, "fault": name, "error_ratio": ratio,
                "burn_rate": round(burn, 2), "stop_burn_rate": settings.stop_burn_rate,
                "window_s": float(window_s),
            }  # fmt: skip
            _record_halt(settings, result)
            halt()
            return result
    return {"watched": True, "halted": False, "worst_burn_rate": round(worst, 2)}


def _record_halt(settings: ChaosSettings, detail: Mapping[str, Any]) -> None:
    print(
        f"stop condition: error ratio {detail['error_ratio']:.2%} over {detail['window_s']:g} s "
        f"burns the {settings.error_budget:.2%} budget {detail['burn_rate']}x "
        f"(stop at {settings.stop_burn_rate:g}x): halting, rolling back",
        flush=True,
    )
    if settings.events_file:
        append_event(settings.events_file, "chaos_halted", **detail)
