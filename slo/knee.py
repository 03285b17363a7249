"""Where did it break? The offered load at which an SLO first failed in a stress ramp.

Pure: given consecutive windows of (start time, offered orders/min, observed value),
the breaking point is the first window whose value breaches the threshold, reported
with the highest offered load that still held.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Knee", "Window", "find_knee"]


@dataclass(frozen=True)
class Window:
    """One slice of the run: when it started, the load offered, what was observed."""

    start_s: float
    offered_per_min: float
    value: float


@dataclass(frozen=True)
class Knee:
    """The first breach, and the last load that still met the objective."""

    broke_at_s: float
    broke_at_per_min: float
    held_up_to_per_min: float | None


def find_knee(windows: Sequence[Window], threshold: float) -> Knee | None:
    """The first window whose value is not below ``threshold``; None if all held."""
    held: float | None = None
    for window in windows:
        if window.value >= threshold:
            return Knee(window.start_s, window.offered_per_min, held)
        held = window.offered_per_min if held is None else max(held, window.offered_per_min)
    return None
