"""Retail traffic profiles: the plan's order rate as a pure function of rehearsal time.

A *preset* (``scenarios/presets/<name>.yaml``, one per name in
``slo.conventions.PROFILES``) is a piecewise-linear curve of levels in [0, 1] over
its natural length (a 24 h Black-Friday day, a one-hour flash sale) or over the whole
run. A *profile* puts a preset on the plan's numbers: level 0 is the baseline and
level 1 the peak, in orders per minute, and ``compression`` real seconds pass per
rehearsal second. Everything here is a pure function of elapsed time; the only I/O
is reading preset files. Does not import Locust: the CLI draws profiles.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from slo.conventions import PROFILES
from slo.durations import parse_duration
from slo.plan import Load

__all__ = [
    "Preset",
    "Profile",
    "build_profile",
    "list_presets",
    "load_preset",
    "resolve_compression",
]

_TIME_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_RUN = "run"  # x of points written as fractions of the run (presets without a natural length)


@dataclass(frozen=True)
class Preset:
    """A shipped traffic shape.

    ``points`` are ``(x, level)``: ``x`` a fraction of the natural length (of the run
    when ``natural_length_s`` is None), non-decreasing from 0 to 1, two points at the
    same ``x`` making a step; ``level`` in [0, 1]. During ``hot_window`` (fractions,
    start inclusive) ``hot_skus`` SKUs take ``hot_share`` of the orders.
    """

    name: str
    description: str
    natural_length_s: float | None
    points: tuple[tuple[float, float], ...]
    hot_skus: int = 0
    hot_share: float = 0.0
    hot_window: tuple[float, float] | None = None


@dataclass(frozen=True)
class Profile:
    """A preset on the plan's numbers; ``t`` is elapsed rehearsal seconds.

    ``compression`` is resolved: real seconds per rehearsal second (1.0 and unused
    for presets without a natural length, which always span the run).
    """

    preset: Preset
    baseline_per_min: float
    peak_per_min: float
    duration_s: float
    compression: float = 1.0

    def __post_init__(self) -> None:
        if not self.baseline_per_min > 0:
            raise ValueError(f"baseline must be > 0 orders/min, got {self.baseline_per_min}")
        if not self.peak_per_min >= self.baseline_per_min:
            raise ValueError(
                f"peak ({self.peak_per_min}) must not be below baseline ({self.baseline_per_min})"
            )
        if not (self.duration_s > 0 and math.isfinite(self.duration_s)):
            raise ValueError(f"duration must be > 0 s, got {self.duration_s}")
        if not (self.compression > 0 and math.isfinite(self.compression)):
            raise ValueError(f"compression must be > 0, got {self.compression}")

    def level(self, t: float) -> float:
        """The preset's level in [0, 1] at ``t`` (clamped to the run)."""
        return _interpolate(self.preset.points, self._x(t))

    def orders_per_min(self, t: float) -> float:
        """Orders per minute at ``t``: baseline + (peak - baseline) * level."""
        return self.baseline_per_min + (self.peak_per_min - self.baseline_per_min) * self.level(t)

    def rate(self, t: float) -> float:
        """Orders per second at ``t``."""
        return self.orders_per_min(t) / 60.0

    def expected_orders(self, t0: float, t1: float) -> float:
        """Orders the profile plans over [t0, t1]: the exact integral of ``rate``.

        Between knots the rate is linear, so the midpoint rule is exact on each
        piece (and, unlike the trapezoid, is not fooled by the step at a knot).
        """
        if t1 < t0:
            return -self.expected_orders(t1, t0)
        cuts = [t0, *(k for k in self.knots() if t0 < k < t1), t1]
        return sum((b - a) * self.rate((a + b) / 2) for a, b in itertools.pairwise(cuts))

    def hot_share(self, t: float) -> float:
        """Share of orders on the hot SKUs at ``t``: ``hot_share`` inside the window, else 0."""
        window = self.preset.hot_window
        if window is None or self.preset.hot_skus == 0:
            return 0.0
        return self.preset.hot_share if window[0] <= self._x(t) < window[1] else 0.0

    def hot_window_s(self) -> tuple[float, float] | None:
        """The hot-SKU window in rehearsal seconds (clipped to the run), or None."""
        window = self.preset.hot_window
        if window is None or self.preset.hot_skus == 0:
            return None
        start, end = (self._unclipped_time_of(x) for x in window)
        return (start, min(end, self.duration_s)) if start < self.duration_s else None

    def knots(self) -> list[float]:
        """Rehearsal times in [0, duration] where the rate may change slope or step."""
        times = {0.0, self.duration_s}
        times.update(t for t in (self._time_of(x) for x, _ in self.preset.points) if t is not None)
        return sorted(times)

    def busiest(self) -> tuple[float, float]:
        """``(t, orders_per_min)`` of the highest rate in the run (the first such t)."""
        candidates = [(0.0, self.level(0.0)), (self.duration_s, self.level(self.duration_s))]
        candidates += [
            (t, level) for (x, level) in self.preset.points if (t := self._time_of(x)) is not None
        ]
        t, level = max(sorted(candidates), key=lambda pair: pair[1])
        span = self.peak_per_min - self.baseline_per_min
        return t, self.baseline_per_min + span * level

    def _x(self, t: float) -> float:
        t = min(max(t, 0.0), self.duration_s)
        natural = self.preset.natural_length_s
        if natural is None:
            return t / self.duration_s
        return min(t * self.compression / natural, 1.0)

    def _time_of(self, x: float) -> float | None:
        """The rehearsal time at which the curve reaches ``x``; None past the run."""
        t = self._unclipped_time_of(x)
        return t if t <= self.duration_s else None

    def _unclipped_time_of(self, x: float) -> float:
        natural = self.preset.natural_length_s
        return x * self.duration_s if natural is None else x * natural / self.compression


def _interpolate(points: Sequence[tuple[float, float]], x: float) -> float:
    """Piecewise-linear level at ``x``; right-continuous at a step."""
    xs = [px for px, _ in points]
    i = bisect.bisect_right(xs, x) - 1
    if i < 0:
        return points[0][1]
    if i >= len(points) - 1:
        return points[-1][1]
    (x0, y0), (x1, y1) = points[i], points[i + 1]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def resolve_compression(preset: Preset, duration_s: float, compression: float | None) -> float:
    """Real seconds per rehearsal second: as given, or fit the whole curve into the run."""
    if preset.natural_length_s is None:
        return 1.0
    if compression is None:
        return preset.natural_length_s / duration_s
    return compression


def build_profile(load: Load) -> Profile:
    """The profile of a plan's ``load`` section."""
    preset = load_preset(load.profile)
    return Profile(
        preset=preset,
        baseline_per_min=load.baseline_per_min,
        peak_per_min=load.peak_rate_per_min,
        duration_s=load.duration_s,
        compression=resolve_compression(preset, load.duration_s, load.compression),
    )


def list_presets() -> list[Preset]:
    """Every shipped traffic preset, in the order of ``slo.conventions.PROFILES``."""
    return [load_preset(name) for name in PROFILES]


def load_preset(name: str) -> Preset:
    """Read a shipped preset; ``ValueError`` for an unknown name or a malformed file."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r} (expected one of: {', '.join(PROFILES)})")
    source = f"scenarios/presets/{name}.yaml"
    data = yaml.safe_load(resources.files("scenarios").joinpath(f"presets/{name}.yaml").read_text())
    try:
        preset = _preset_from_data(data)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{source}: {err}") from err
    if preset.name != name:
        raise ValueError(f"{source}: name {preset.name!r} does not match the file name")
    return preset


def _preset_from_data(data: Mapping[str, Any]) -> Preset:
    unit = str(data["timeUnit"])
    natural = data.get("naturalLength")
    natural_s = None if natural is None else parse_duration(str(natural))
    if (unit == _RUN) != (natural_s is None):
        raise ValueError("timeUnit 'run' goes with no naturalLength, h/m/s with one")
    if unit != _RUN and unit not in _TIME_UNITS:
        raise ValueError(f"unknown timeUnit {unit!r} (expected run, h, m or s)")
    length = 1.0 if natural_s is None else natural_s / _TIME_UNITS[unit]
    points = tuple((float(x) / length, float(level)) for x, level in data["points"])
    _check_points(points)
    window = data.get("hotWindow")
    hot_window = None if window is None else (float(window[0]) / length, float(window[1]) / length)
    preset = Preset(
        name=str(data["name"]),
        description=str(data["description"]),
        natural_length_s=natural_s,
        points=points,
        hot_skus=int(data.get("hotSkus", 0)),
        hot_share=float(data.get("hotShare", 0.0)),
        hot_window=hot_window,
    )
    _check_hot(preset)
    return preset


def _check_points(points: Sequence[tuple[float, float]]) -> None:
    xs = [x for x, _ in points]
    if len(points) < 2 or not math.isclose(xs[0], 0.0) or not math.isclose(xs[-1], 1.0):
        raise ValueError("points must run from the start to the end of the curve")
    if any(b < a for a, b in itertools.pairwise(xs)):
        raise ValueError("points must be in time order")
    if any(a == c for a, c in zip(xs, xs[2:], strict=False)):
        raise ValueError("at most two points may share a time (a step)")
    bad = [level for _, level in points if not 0.0 <= level <= 1.0]
    if bad:
        raise ValueError(f"levels must be in [0, 1], got {bad[0]}")


def _check_hot(preset: Preset) -> None:
    if preset.hot_skus < 0 or not 0.0 <= preset.hot_share <= 1.0:
        raise ValueError("hotSkus must be >= 0 and hotShare in [0, 1]")
    if preset.hot_skus and preset.hot_window is None:
        raise ValueError("hotSkus needs a hotWindow")
    window = preset.hot_window
    if window is not None and not 0.0 <= window[0] < window[1] <= 1.0:
        raise ValueError("hotWindow must be a [start, end] within the curve")
