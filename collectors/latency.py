"""Request latency as mergeable HDR histograms, per endpoint and per interval.

The load process calls ``IntervalRecorder.record`` for every request (the hot path:
a dict lookup and one histogram update). Each completed interval is handed to a sink
as one record per endpoint, with the histogram encoded in HdrHistogram's standard
compressed base64 form, so intervals from several processes merge exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

__all__ = [
    "EncodedDistribution",
    "HdrDistribution",
    "IntervalRecorder",
    "decode_histogram",
    "merge",
    "merge_distributions",
    "new_histogram",
]

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour: anything slower is a timeout, not a latency
SIGNIFICANT_DIGITS = 3

Sink = Callable[[dict[str, Any]], None]


def new_histogram() -> HdrHistogram:
    """An empty latency histogram in microseconds, three significant digits."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def decode_histogram(encoded: str) -> HdrHistogram:
    """Decode a histogram written by ``IntervalRecorder``."""
    return HdrHistogram.decode(encoded.encode())


class HdrDistribution:
    """A merged latency histogram seen as an ``slo.stats.LatencyDistribution`` (ms)."""

    def __init__(self, histogram: HdrHistogram | None = None) -> None:
        self.histogram = histogram if histogram is not None else new_histogram()

    def add(self, other: HdrHistogram) -> None:
        self.histogram.add(other)

    def value_at_percentile(self, percentile: float) -> float:
        return float(self.histogram.get_value_at_percentile(percentile)) / 1000.0

    @property
    def total_count(self) -> int:
        return int(self.histogram.get_total_count())

    @property
    def max_ms(self) -> float:
        return float(self.histogram.get_max_value()) / 1000.0


class EncodedDistribution:
    """One interval's histogram, kept encoded until read: a long run holds thousands.

    Decoded afresh on each read (not cached), so memory stays with the encoded text.
    """

    __slots__ = ("_count", "encoded")

    def __init__(self, encoded: str, count: int) -> None:
        self.encoded = encoded
        self._count = count

    def decode(self) -> HdrHistogram:
        return decode_histogram(self.encoded)

    def value_at_percentile(self, percentile: float) -> float:
        return float(self.decode().get_value_at_percentile(percentile)) / 1000.0

    @property
    def total_count(self) -> int:
        return self._count


def merge_distributions(parts: Sequence[Any]) -> HdrDistribution:
    """Add histograms (``EncodedDistribution`` or ``HdrDistribution``) into a new one."""
    merged = HdrDistribution()
    for part in parts:
        merged.add(part.decode() if isinstance(part, EncodedDistribution) else part.histogram)
    return merged


@dataclass
class _Bucket:
    histogram: HdrHistogram = field(default_factory=new_histogram)
    ok: int = 0
    fail: int = 0
    # The slowest traced request of the interval: the exemplar worth opening.
    exemplar_trace: str | None = None
    exemplar_s: float = -1.0


class IntervalRecorder:
    """Accumulates one interval of requests and emits it when the interval closes.

    Not thread-safe: Locust runs users as greenlets on one thread, and ``flush`` is
    called from that same thread.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        source: str = "",
    ) -> None:
        self._sink = sink
        self._interval = interval_s
        self._clock = clock
        self._source = source
        self._index: int | None = None
        self._buckets: dict[str, _Bucket] = {}

    def record(
        self, endpoint: str, latency_s: float, ok: bool, trace_id: str | None = None
    ) -> None:
        """Record one request that ended now (``trace_id`` if it was traced)."""
        index = int(self._clock() // self._interval)
        if index != self._index:
            self._emit()
            self._index = index
        bucket = self._buckets.get(endpoint)
        if bucket is None:
            bucket = self._buckets[endpoint] = _Bucket()
        micros = min(max(int(latency_s * 1_000_000), LOWEST_US), HIGHEST_US)
        bucket.histogram.record_value(micros)
        if ok:
            bucket.ok += 1
        else:
            bucket.fail += 1
        if trace_id is not None and latency_s > bucket.exemplar_s:
            bucket.exemplar_trace, bucket.exemplar_s = trace_id, latency_s

    def flush(self, *, final: bool = False) -> None:
        """Emit the open interval if it has closed (or always, when ``final``)."""
        if self._index is None:
            return
        if final or int(self._clock() // self._interval) != self._index:
            self._emit()
            self._index = None

    def _emit(self) -> None:
        if self._index is None or not self._buckets:
            self._buckets = {}
            return
        start = self._index * self._interval
        for endpoint, bucket in sorted(self._buckets.items()):
            self._sink(_interval_record(start, self._interval, endpoint, bucket, self._source))
        self._buckets = {}


def _interval_record(
    start: float, interval: float, endpoint: str, bucket: _Bucket, source: str
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "t": round(start, 3),
        "interval_s": interval,
        "endpoint": endpoint,
        "ok": bucket.ok,
        "fail": bucket.fail,
        "source": source,
        "hist": bucket.histogram.encode().decode(),
    }
    if bucket.exemplar_trace is not None:
        record["exemplar"] = {"trace_id": bucket.exemplar_trace, "latency_s": bucket.exemplar_s}
    return record


def merge(records: Iterable[dict[str, Any]]) -> dict[str, tuple[int, int, HdrDistribution]]:
    """Merge interval records into per-endpoint (ok, fail, distribution)."""
    merged: dict[str, tuple[int, int, HdrDistribution]] = {}
    for record in records:
        endpoint = record["endpoint"]
        ok, fail, dist = merged.get(endpoint, (0, 0, HdrDistribution()))
        dist.add(decode_histogram(record["hist"]))
        merged[endpoint] = (ok + int(record["ok"]), fail + int(record["fail"]), dist)
    return merged
