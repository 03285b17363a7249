"""The load process's live metrics (``peakops_metrics_url``), read over one window.

:func:`read_window` scrapes the metrics twice, ``window_s`` apart, and keeps what the
counters grew by in between; :func:`error_ratio_in`, :func:`p99_ms_in` and
:func:`slow_share_in` judge that growth. Each answers with a :class:`Reading` whose
``value`` is None when there is no data (no metrics URL, metrics unreadable, counters
that went back, no requests in the window), together with the reason: no data is never
reported as a measured 0.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from chaos.settings import ChaosSettings
from slo.conventions import (
    LABEL_ENDPOINT,
    LABEL_OUTCOME,
    METRIC_CLIENT_LATENCY,
    METRIC_CLIENT_REQUESTS,
)
from slo.errors import InfraError, UsageError

__all__ = [
    "NO_METRICS_URL",
    "Reading",
    "Window",
    "error_ratio_in",
    "p99_ms_in",
    "read_window",
    "slow_bound_s",
    "slow_share_in",
]

Sample = dict[tuple[str, ...], float]
NO_METRICS_URL = "peakops_metrics_url is not set: no flood to measure"
# A bucket bound equal to the threshold must count as "at or above" it despite the
# float noise of ms -> s (0.3 / 1000 vs the text "0.0003").
_EPSILON = 1e-9


@dataclass(frozen=True)
class Window:
    """How much each counter grew over ``seconds``; ``no_data`` says why nothing was read.

    ``unconfigured``: there was no metrics URL, so nothing was asked to be measured.
    """

    growth: Sample = field(default_factory=dict)
    seconds: float = 0.0
    no_data: str = ""
    unconfigured: bool = False


@dataclass(frozen=True)
class Reading:
    """One figure of one window: ``value`` None means no data, and ``no_data`` says why."""

    value: float | None = None
    requests: int = 0
    no_data: str = ""
    unconfigured: bool = False

    @property
    def data(self) -> str:
        """``measured``, ``missing`` (should have been measured, was not) or ``unconfigured``."""
        if self.value is not None:
            return "measured"
        return "unconfigured" if self.unconfigured else "missing"


def read_window(
    settings: ChaosSettings, window_s: float, *, sleep: Callable[[float], None] = time.sleep
) -> Window:
    """Scrape, wait ``window_s``, scrape again (the window lasts ``window_s`` either way)."""
    url = settings.metrics_url
    if not url:
        return Window(seconds=window_s, no_data=NO_METRICS_URL, unconfigured=True)
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1":
        raise UsageError(f"peakops_metrics_url must be http://127.0.0.1:PORT/..., got {url!r}")
    try:
        before = _scrape(url)
    except InfraError as err:
        sleep(window_s)  # a dead endpoint must not turn a watch loop into a busy loop
        return Window(seconds=window_s, no_data=str(err))
    sleep(window_s)
    try:
        after = _scrape(url)
    except InfraError as err:
        return Window(seconds=window_s, no_data=str(err))
    growth = {key: value - before.get(key, 0.0) for key, value in after.items()}
    if any(value < 0 for value in growth.values()):
        reason = f"the counters at {url} went back (the load process restarted?)"
        return Window(seconds=window_s, no_data=reason)
    return Window(growth, window_s)


def error_ratio_in(window: Window) -> Reading:
    """The failed share of every endpoint's requests in ``window``."""
    if window.no_data:
        return _nothing(window)
    requests = {k: v for k, v in window.growth.items() if k[0] == "requests"}
    total = sum(requests.values())
    if total <= 0:
        return Reading(no_data=f"no requests in the last {window.seconds:g} s")
    failed = sum(v for k, v in requests.items() if k[2] == "fail")
    return Reading(failed / total, int(total))


def p99_ms_in(window: Window, endpoint: str) -> Reading:
    """The p99 of ``endpoint`` in ``window``: the upper bound of its bucket, in ms."""
    buckets = _buckets(window, endpoint)
    if isinstance(buckets, Reading):
        return buckets
    total = buckets[-1][1]
    for upper, count in buckets:
        if count >= 0.99 * total:
            return Reading(upper * 1000 if math.isfinite(upper) else math.inf, int(total))
    return Reading(math.inf, int(total))


def slow_bound_s(window: Window, endpoint: str, threshold_ms: float) -> float | None:
    """The smallest bucket bound at or above ``threshold_ms`` (None: there is none)."""
    threshold_s = threshold_ms / 1000 * (1 - _EPSILON)
    bounds = sorted(float(k[2]) for k in window.growth if k[0] == "bucket" and k[1] == endpoint)
    return next((b for b in bounds if b >= threshold_s and math.isfinite(b)), None)


def slow_share_in(window: Window, endpoint: str, threshold_ms: float) -> Reading:
    """The share of ``endpoint``'s requests in ``window`` slower than ``threshold_ms``.

    The histogram only knows buckets, so a request counts as slow only when it lies
    above the smallest bucket bound at or above the threshold. Conservative on purpose:
    a request in the bucket that straddles the threshold might have been fast enough,
    and the stop condition must never halt a fault for a request that might have been.
    """
    buckets = _buckets(window, endpoint)
    if isinstance(buckets, Reading):
        return buckets
    total = buckets[-1][1]
    bound = slow_bound_s(window, endpoint, threshold_ms)
    if bound is None:
        reason = f"{endpoint}: no latency bucket at or above {threshold_ms:g} ms"
        return Reading(no_data=reason, requests=int(total))
    fast = next(count for upper, count in buckets if upper == bound)
    return Reading((total - fast) / total, int(total))


def _nothing(window: Window) -> Reading:
    return Reading(no_data=window.no_data, unconfigured=window.unconfigured)


def _buckets(window: Window, endpoint: str) -> list[tuple[float, float]] | Reading:
    """``endpoint``'s cumulative buckets, ``+Inf`` last, or the Reading saying why none."""
    if window.no_data:
        return _nothing(window)
    buckets = sorted(
        (float(k[2]), v) for k, v in window.growth.items() if k[0] == "bucket" and k[1] == endpoint
    )
    if not buckets or buckets[-1][1] <= 0:
        return Reading(no_data=f"no {endpoint} requests in the last {window.seconds:g} s")
    return buckets


def _scrape(url: str) -> Sample:
    try:
        response = httpx.get(url, timeout=2.0, trust_env=False)
        response.raise_for_status()
        families = list(text_string_to_metric_families(response.text))
    except (httpx.HTTPError, ValueError) as err:
        raise InfraError(f"cannot read the live metrics at {url}: {err}") from err
    sample: Sample = {}
    for family in families:
        for s in family.samples:
            endpoint = s.labels.get(LABEL_ENDPOINT, "")
            if s.name == f"{METRIC_CLIENT_REQUESTS}_total":
                sample["requests", endpoint, s.labels.get(LABEL_OUTCOME, "")] = s.value
            elif s.name == f"{METRIC_CLIENT_LATENCY}_bucket" and "le" in s.labels:
                sample["bucket", endpoint, s.labels["le"]] = s.value
    return sample
