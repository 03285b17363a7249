"""Request latency as mergeable HDR histograms, per endpoint and per interval.

The load process calls ``IntervalRecorder.record`` for every request (the hot path:
a clock read, a dict lookup and a list append). Successful requests' latencies are
batched and added to the histogram when the interval closes (or its batch grows
past ``FOLD_AT``), one ``record_value`` per distinct microsecond value with its
count: HdrHistogram's ``record_value`` is pure Python, and the batch does the same
updates with a fraction of the calls, so the histograms are exactly what one call per
request would build. Each completed interval is handed to a sink
as one record per endpoint, with the histograms encoded in HdrHistogram's standard
compressed base64 form, so intervals from several processes merge exactly.

Successful and failed requests go into separate histograms (``hist`` and
``hist_fail``): latency objectives judge successful requests only (a refused
connection answers in microseconds and would flatter the percentiles), and how long
failures took is reported beside them. Failures are also counted by reason
(``errors``: an exception's type name, or ``HTTP <status>``). Records written before
``hist_fail`` existed hold every request in ``hist``; ``merge`` reads both forms.
"""

from __future__ import annotations

import functools
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from hdrh.histogram import HdrHistogram

from slo.stats import EndpointStats

__all__ = [
    "EncodedDistribution",
    "EndpointRecords",
    "HdrDistribution",
    "IntervalRecorder",
    "RecordedEndpoint",
    "combine",
    "decode_histogram",
    "merge",
    "merge_distributions",
    "new_histogram",
]

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour: anything slower is a timeout, not a latency
SIGNIFICANT_DIGITS = 3
FOLD_AT = 1 << 16  # batched latencies per endpoint before ``flush`` adds them early

Sink = Callable[[dict[str, Any]], None]


def new_histogram() -> HdrHistogram:
    """An empty latency histogram in microseconds, three significant digits."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def decode_histogram(encoded: str) -> HdrHistogram:
    """Decode a histogram written by ``IntervalRecorder``.

    Anything else (not base64, truncated, another range or precision) raises
    ``ValueError`` saying why: the text comes from a file, and a histogram of another
    range would fail to merge or misplace its values.
    """
    if not isinstance(encoded, str) or not encoded:
        raise ValueError(f"not an HdrHistogram: {encoded!r:.40}")
    try:
        histogram = HdrHistogram.decode(encoded.encode())
    except Exception as err:  # hdrh, base64, zlib and struct each raise their own
        raise ValueError(f"corrupt HdrHistogram: {type(err).__name__}: {err}") from err
    found = (
        histogram.lowest_trackable_value,
        histogram.highest_trackable_value,
        histogram.significant_figures,
    )
    if found != (LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS):
        raise ValueError(
            f"not a peakops latency histogram: {found[0]}..{found[1]} us at {found[2]} "
            f"digits (expected {LOWEST_US}..{HIGHEST_US} us at {SIGNIFICANT_DIGITS})"
        )
    return histogram


class HdrDistribution:
    """A merged latency histogram seen as an ``slo.stats.LatencyDistribution`` (ms).

    Empty (no successful request), its percentiles are infinite, not 0 ms: a window in
    which every request failed must not read as fast (``slo.recovery`` checks for it).
    """

    def __init__(self, histogram: HdrHistogram | None = None) -> None:
        self.histogram = histogram if histogram is not None else new_histogram()

    def add(self, other: HdrHistogram) -> None:
        self.histogram.add(other)

    def value_at_percentile(self, percentile: float) -> float:
        if self.histogram.get_total_count() == 0:
            return math.inf
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
        if self._count == 0:  # as ``HdrDistribution``: no sample, no finite percentile
            return math.inf
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
    histogram: HdrHistogram = field(default_factory=new_histogram)  # successful requests
    # Latencies (s) of successful requests not yet in ``histogram`` (see ``_fold``).
    pending: list[float] = field(default_factory=list)
    ok: int = 0
    fail: int = 0
    # Made on the first failure: building a histogram costs ~0.1 ms.
    failed: HdrHistogram | None = None
    errors: dict[str, int] = field(default_factory=dict)
    # The slowest traced successful request of the interval: the exemplar worth opening.
    exemplar_trace: str | None = None
    exemplar_s: float = -1.0


@functools.cache
def _empty_encoded() -> str:
    """``hist_fail`` of an interval without failures (encoded once, not per record)."""
    return new_histogram().encode().decode()


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
        # The open interval's bounds on the clock: a request inside them skips the
        # index arithmetic (empty until the first request).
        self._since = math.inf
        self._until = -math.inf
        self._buckets: dict[str, _Bucket] = {}

    def record(
        self,
        endpoint: str,
        latency_s: float,
        ok: bool,
        trace_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record one request that ended now (``trace_id`` if it was traced).

        A failed request (``ok`` false) goes into the failures' histogram and is
        counted under ``error``: why it failed (``ConnectionRefusedError``, ``HTTP 503``;
        ``unknown`` when not given).
        """
        now = self._clock()
        if not self._since <= now < self._until:
            self._enter(now)
        bucket = self._buckets.get(endpoint)
        if bucket is None:
            bucket = self._buckets[endpoint] = _Bucket()
        if not ok:
            _record_failure(bucket, _micros(latency_s), error)
            return
        bucket.pending.append(latency_s)
        bucket.ok += 1
        if trace_id is not None and latency_s > bucket.exemplar_s:
            bucket.exemplar_trace, bucket.exemplar_s = trace_id, latency_s

    def _enter(self, now: float) -> None:
        """The clock left the open interval: close it if ``now`` is in another one."""
        index = int(now // self._interval)
        closed, self._index = self._index, index
        self._since = index * self._interval
        self._until = (index + 1) * self._interval
        if closed != index:
            self._emit(closed)

    def flush(self, *, final: bool = False) -> None:
        """Emit the open interval if it has closed (or always, when ``final``); else
        add a large batch of latencies to its histograms (memory stays bounded)."""
        if self._index is None:
            return
        if final or int(self._clock() // self._interval) != self._index:
            closed, self._index = self._index, None
            self._since, self._until = math.inf, -math.inf
            self._emit(closed)
            return
        for bucket in self._buckets.values():
            if len(bucket.pending) >= FOLD_AT:
                _fold(bucket)

    def _emit(self, index: int | None) -> None:
        """Write the buckets of interval ``index``. Callers move the recorder on first
        and the buckets are taken before the sink runs: a sink that yields (gevent)
        lets other greenlets record into the next interval, never emit this twice."""
        buckets, self._buckets = self._buckets, {}
        if index is None or not buckets:
            return
        start = index * self._interval
        for endpoint, bucket in sorted(buckets.items()):
            _fold(bucket)
            self._sink(_interval_record(start, self._interval, endpoint, bucket, self._source))


def _micros(latency_s: float) -> int:
    """A latency in whole microseconds, within the histograms' range."""
    return min(max(int(latency_s * 1_000_000), LOWEST_US), HIGHEST_US)


_US_PER_S = 1_000_000.0


def _fold(bucket: _Bucket) -> None:
    """Add the batched latencies to the histogram, exactly as ``record_value`` per
    request would: the same counts, total, min and max.

    ``int(s * 1e6)`` runs in C (``map``) and ``Counter`` tallies the values; then each
    distinct value's count goes into its slot of HdrHistogram's counts array, at the
    index ``record_value`` computes (``_counts_index_for``), inlined: a Python call
    chain of five methods per value was most of the recording's cost.
    """
    pending = bucket.pending
    if not pending:
        return
    tally = Counter(map(int, map(_US_PER_S.__mul__, pending)))
    low, high = min(tally), max(tally)
    histogram = bucket.histogram
    if low < LOWEST_US or high > HIGHEST_US:  # out of range: clamped, one by one
        for micros, count in tally.items():
            histogram.record_value(min(max(micros, LOWEST_US), HIGHEST_US), count)
    else:
        counts, mask = histogram.counts, histogram.sub_bucket_mask
        unit, half = histogram.unit_magnitude, histogram.sub_bucket_half_count
        magnitude = histogram.sub_bucket_half_count_magnitude
        shift = unit + magnitude + 1
        for micros, count in tally.items():
            bucket_index = (micros | mask).bit_length() - shift
            sub_bucket = micros >> (bucket_index + unit)
            counts[((bucket_index + 1) << magnitude) + sub_bucket - half] += count
        histogram.total_count += len(pending)
        histogram.min_value = min(histogram.min_value, low)
        histogram.max_value = max(histogram.max_value, high)
    pending.clear()


def _record_failure(bucket: _Bucket, micros: int, error: str | None) -> None:
    failed = bucket.failed
    if failed is None:
        failed = bucket.failed = new_histogram()
    failed.record_value(micros)
    bucket.fail += 1
    reason = error if error is not None else "unknown"
    bucket.errors[reason] = bucket.errors.get(reason, 0) + 1


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
        "hist_fail": (
            bucket.failed.encode().decode() if bucket.failed is not None else _empty_encoded()
        ),
    }
    if bucket.errors:
        record["errors"] = dict(sorted(bucket.errors.items()))
    if bucket.exemplar_trace is not None:
        record["exemplar"] = {"trace_id": bucket.exemplar_trace, "latency_s": bucket.exemplar_s}
    return record


class EndpointRecords(NamedTuple):
    """An endpoint's interval records merged: counts, latencies and why requests failed.

    ``latency`` holds successful requests; ``failed`` the failed ones, or None when no
    record had ``hist_fail`` (an older run: its failures are inside ``latency``).
    """

    ok: int
    fail: int
    latency: HdrDistribution
    failed: HdrDistribution | None
    errors: dict[str, int]


def merge(records: Iterable[dict[str, Any]]) -> dict[str, EndpointRecords]:
    """Merge interval records (either form, see the module docstring) per endpoint."""
    merged: dict[str, EndpointRecords] = {}
    for record in records:
        endpoint = record["endpoint"]
        ok, fail, latency, failed, errors = merged.get(endpoint) or (
            0, 0, HdrDistribution(), None, {},
        )  # fmt: skip
        latency.add(decode_histogram(record["hist"]))
        if "hist_fail" in record:
            failed = failed if failed is not None else HdrDistribution()
            failed.add(decode_histogram(record["hist_fail"]))
        for reason, count in record.get("errors", {}).items():
            errors[reason] = errors.get(reason, 0) + int(count)
        merged[endpoint] = EndpointRecords(
            ok + int(record["ok"]), fail + int(record["fail"]), latency, failed, errors
        )
    return merged


def combine(parts: Iterable[EndpointRecords]) -> EndpointRecords:
    """Several endpoints' merged records as one (the all-endpoints figures)."""
    ok = fail = 0
    latency, failed, errors = HdrDistribution(), None, dict[str, int]()
    for part in parts:
        ok, fail = ok + part.ok, fail + part.fail
        latency.add(part.latency.histogram)
        if part.failed is not None:
            failed = failed if failed is not None else HdrDistribution()
            failed.add(part.failed.histogram)
        for reason, count in part.errors.items():
            errors[reason] = errors.get(reason, 0) + count
    return EndpointRecords(ok, fail, latency, failed, errors)


@dataclass(frozen=True)
class RecordedEndpoint(EndpointStats):
    """``EndpointStats`` with what reports show besides: the failures' latency and reasons.

    ``latency`` (what latency objectives judge) holds successful requests only, so its
    ``total_count`` is the successful requests, not ``requests``.
    """

    failed_latency: HdrDistribution | None = None
    errors: Mapping[str, int] = field(default_factory=dict)
