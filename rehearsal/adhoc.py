"""The plan behind ``peakops load``: flood one URL at a fixed arrival rate.

Like wrk2 ``-R``: an open model at a constant rate, latency from each request's
intended start. The plan is built as data and validated like a plan file, so a bad URL or a
bad number is refused with the same messages, and a host the operator did not allow
is refused before any connection.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from slo.durations import format_duration
from slo.plan import Plan, validate_plan

__all__ = ["url_flood_plan"]

SOURCE = "peakops load"


def url_flood_plan(
    *,
    url: str,
    rate_per_s: float,
    duration_s: float,
    max_concurrency: int,
    arrivals: str,
    trace_sample_ratio: float = 0.0,
    max_error_ratio: float = 0.01,
) -> Plan:
    """A one-URL flood: constant profile, open model, error-ratio and throughput SLOs.

    The URL on the command line is the plan's key to its host; the operator's key is
    ``--allow-host`` / ``PEAKOPS_ALLOWED_HOSTS`` (checked before any connection).
    """
    parts = urlsplit(url)
    endpoint = f"GET {parts.path.rstrip('/') or '/'}"
    hosts = ["127.0.0.1", "localhost", *([parts.hostname] if parts.hostname else [])]
    return validate_plan(
        {
            "apiVersion": "peakops/v1",
            "name": "adhoc-url-flood",
            "target": {"kind": "url", "baseUrl": url, "allowHosts": sorted(set(hosts))},
            "load": {
                "profile": "constant",
                "mode": "open",
                "scenario": "url",
                "duration": format_duration(duration_s),
                "baseline": rate_per_s * 60,
                "arrivals": arrivals,
                "maxConcurrency": max_concurrency,
                "traceSampleRatio": trace_sample_ratio,
            },
            "slos": {
                "minSamples": 1,
                "objectives": [
                    {"id": "error-ratio", "kind": "error_ratio", "max": max_error_ratio},
                    {"id": "throughput", "kind": "throughput", "endpoint": endpoint,
                     "minRatio": 0.99},
                ],
            },
        },
        source=SOURCE,
    )  # fmt: skip
