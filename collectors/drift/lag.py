"""Convergence lag as bounds: the histograms of the stock-drift checker and their figures.

Probes are samples: a view is only known to have caught up with an acknowledgement
somewhere between the last look that did not show it and the first that did. Each
timed convergence is therefore a bracket (lower, upper), and ``LagHistogram`` keeps one
histogram per bound, in HdrHistogram buckets (three significant digits), so its size
does not grow with the run and the histograms of several checkers add up exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

__all__ = ["LAG_HIGHEST_US", "LagHistogram", "LagStats"]

_SUB_BUCKET_BITS = 11  # HdrHistogram with 3 significant digits: 2048 sub-buckets
_EXACT_BELOW = 1 << _SUB_BUCKET_BITS
LAG_HIGHEST_US = 86_400_000_000  # a day: a view that lags longer is as good as never
_PERCENTILES = (50.0, 95.0, 99.0)


@dataclass(frozen=True)
class LagStats:
    """Convergence lag (acknowledgement → a view reflects it), in seconds.

    ``p50_s`` .. ``worst_s`` are percentiles of the *lower* bounds (what SLOs judge:
    a slow probe never makes a fast view look slow), ``p50_upper_s`` .. ``worst_upper_s``
    of the upper bounds. Every true lag lies within its own bracket, so the k-th
    smallest lower bound is at most the k-th smallest true lag (and the k-th smallest
    upper bound at least it): each percentile of the lower bounds is a lower bound of
    the true percentile, each of the upper bounds an upper bound.
    """

    converged: int = 0
    never_converged: int = 0
    converged_untimed: int = 0
    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None
    worst_s: float | None = None
    p50_upper_s: float | None = None
    p95_upper_s: float | None = None
    p99_upper_s: float | None = None
    worst_upper_s: float | None = None


class _Bound:
    """One bound's lags quantised as HdrHistogram buckets (µs, 3 significant digits).

    Recording is a dict increment (the hot path); the real ``HdrHistogram`` is built
    once, for the percentiles. A lag is recorded in the bucket at or below it.
    """

    __slots__ = ("buckets", "least", "worst")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.least = float("inf")
        self.worst = float("-inf")

    def add(self, lag_s: float) -> None:
        micros = int(lag_s * 1_000_000 + 0.5)
        if micros < 0:
            micros = 0
        elif micros >= _EXACT_BELOW:
            if micros > LAG_HIGHEST_US:
                micros = LAG_HIGHEST_US
            shift = micros.bit_length() - _SUB_BUCKET_BITS
            micros = (micros >> shift) << shift
        buckets = self.buckets
        buckets[micros] = buckets.get(micros, 0) + 1
        if lag_s < self.least:
            self.least = lag_s
        if lag_s > self.worst:
            self.worst = lag_s

    def merge(self, other: _Bound) -> None:
        for micros, count in other.buckets.items():
            self.buckets[micros] = self.buckets.get(micros, 0) + count
        self.least = min(self.least, other.least)
        self.worst = max(self.worst, other.worst)

    def figures(self, *, upper: bool) -> tuple[float, float, float, float]:
        """p50, p95, p99 and worst, in seconds (at least one lag recorded).

        A percentile reads the lowest value of its bucket for a lower bound and the
        highest for an upper bound, so quantising moves no bound inwards (beyond a
        microsecond's rounding); both are clamped to the exact least and worst lag
        seen, so a single lag reads back exactly.
        """
        histogram = HdrHistogram(1, LAG_HIGHEST_US, 3)
        for micros, count in self.buckets.items():
            histogram.record_value(micros, count)
        least, worst = max(round(self.least, 6), 0.0), max(round(self.worst, 6), 0.0)

        def at(percentile: float) -> float:
            micros = histogram.get_value_at_percentile(percentile)
            if not upper:
                micros = histogram.get_lowest_equivalent_value(micros)
            return round(min(max(micros / 1_000_000, least), worst), 6)

        p50, p95, p99 = (at(p) for p in _PERCENTILES)
        return p50, p95, p99, worst


class LagHistogram:
    """The lower and the upper bounds of every timed convergence (see the module docstring)."""

    __slots__ = ("count", "lower", "upper")

    def __init__(self) -> None:
        self.count = 0
        self.lower = _Bound()
        self.upper = _Bound()

    def add(self, lower_s: float, upper_s: float) -> None:
        """One convergence that happened between ``lower_s`` and ``upper_s`` after its ack."""
        self.count += 1
        self.lower.add(lower_s)
        self.upper.add(upper_s)

    def merge(self, other: LagHistogram) -> None:
        self.count += other.count
        self.lower.merge(other.lower)
        self.upper.merge(other.upper)

    def stats(self, never_converged: int, untimed: int) -> LagStats:
        if not self.count:
            return LagStats(0, never_converged, untimed)
        return LagStats(
            self.count,
            never_converged,
            untimed,
            *self.lower.figures(upper=False),
            *self.upper.figures(upper=True),
        )
