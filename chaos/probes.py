"""Chaos Toolkit probes (``"module": "chaos.probes"``): is the target in its steady state?

``targets_ready`` asks the platform (local: the public ``/healthz``; kubernetes: every
matching pod Running). ``error_ratio`` and ``order_p99_ms`` read the load process's live
metrics (``peakops_metrics_url``, 127.0.0.1 only) twice, ``window_s`` apart, and judge
the requests in between; without a metrics URL (an experiment run on its own, with no
flood) they return 0 and "no data" never fails the hypothesis.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from chaos import kube, local
from chaos.settings import ChaosSettings, parse_settings
from slo.conventions import (
    ENDPOINT_PLACE_ORDER,
    LABEL_ENDPOINT,
    LABEL_OUTCOME,
    METRIC_CLIENT_LATENCY,
    METRIC_CLIENT_REQUESTS,
)
from slo.errors import InfraError, UsageError

__all__ = ["error_ratio", "order_p99_ms", "targets_ready"]

Configuration = Mapping[str, Any] | None
Sample = dict[tuple[str, ...], float]


def targets_ready(configuration: Configuration = None) -> bool:
    """True when the target answers: local public ``/healthz``, or all matching pods Running."""
    settings = parse_settings(configuration)
    if settings.platform == "kubernetes":
        ready, total = kube.pods_ready(settings, kube.default_clients)
        return total > 0 and ready == total
    base_url = local.base_url(settings)
    try:
        response = httpx.get(f"{base_url}/healthz", timeout=2.0, trust_env=False)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def error_ratio(window_s: float = 3.0, configuration: Configuration = None) -> float:
    """Failed share of the flood's requests during the last ``window_s`` (0 without data)."""
    pair = _two_samples(parse_settings(configuration), float(window_s))
    if pair is None:
        return 0.0
    before, after = pair
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after if k[0] == "requests"}
    total = sum(delta.values())
    failed = sum(v for k, v in delta.items() if k[2] == "fail")
    return round(failed / total, 4) if total > 0 else 0.0


def order_p99_ms(
    window_s: float = 3.0, endpoint: str = ENDPOINT_PLACE_ORDER, configuration: Configuration = None
) -> float:
    """p99 latency (ms, bucket upper bound) of ``endpoint`` during the last ``window_s``."""
    pair = _two_samples(parse_settings(configuration), float(window_s))
    if pair is None:
        return 0.0
    before, after = pair
    buckets = sorted(
        (float(k[2]), after[k] - before.get(k, 0.0))
        for k in after
        if k[0] == "bucket" and k[1] == endpoint
    )
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return 0.0
    for upper, count in buckets:
        if count >= 0.99 * total:
            return round(upper * 1000, 1) if math.isfinite(upper) else math.inf
    return math.inf


def _two_samples(settings: ChaosSettings, window_s: float) -> tuple[Sample, Sample] | None:
    url = settings.metrics_url
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1":
        raise UsageError(f"peakops_metrics_url must be http://127.0.0.1:PORT/..., got {url!r}")
    before = _scrape(url)
    time.sleep(window_s)
    return before, _scrape(url)


def _scrape(url: str) -> Sample:
    try:
        response = httpx.get(url, timeout=2.0, trust_env=False)
        response.raise_for_status()
    except httpx.HTTPError as err:
        raise InfraError(f"cannot read the live metrics at {url}: {err}") from err
    sample: Sample = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            endpoint = s.labels.get(LABEL_ENDPOINT, "")
            if s.name == f"{METRIC_CLIENT_REQUESTS}_total":
                sample["requests", endpoint, s.labels.get(LABEL_OUTCOME, "")] = s.value
            elif s.name == f"{METRIC_CLIENT_LATENCY}_bucket":
                sample["bucket", endpoint, s.labels["le"]] = s.value
    return sample
