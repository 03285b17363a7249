"""What a rehearsal asks its own Prometheus about itself: is everything it must scrape
up and Alertmanager discovered (before the load), and what was up and kept (after).

Plain HTTP API reads (``/api/v1/targets``, ``/api/v1/alertmanagers``,
``/api/v1/query``, ``/api/v1/query_exemplars``); ``rehearsal.monitoring`` decides what
to do with the answers.
"""

from __future__ import annotations

import time
from collections.abc import Set
from typing import Any

import httpx

from rehearsal.monitoring_config import JOB_OMS
from slo.conventions import METRIC_CLIENT_LATENCY

__all__ = ["not_ready", "run_summary"]


def not_ready(client: httpx.Client, oms: Set[str], alertmanager: str | None) -> list[str]:
    """What is still missing before the load: OMS targets not up, none discovered yet,
    Alertmanager (``host:port``) not listed. Empty when ready."""
    targets = client.get("/api/v1/targets", params={"state": "active"}).json()
    active = targets["data"]["activeTargets"]
    up = {t["labels"]["instance"] for t in active if t["labels"].get("job") == JOB_OMS
          and t.get("health") == "up"}  # fmt: skip
    missing = [f"target {target} not up" for target in sorted(oms - up)]
    if not active:
        missing.append("no target discovered yet")
    if alertmanager is not None:
        listed = client.get("/api/v1/alertmanagers").json()["data"]["activeAlertmanagers"]
        if not any(alertmanager in str(a.get("url")) for a in listed):
            missing.append("alertmanager not discovered")
    return missing


def run_summary(url: str, started: float) -> dict[str, Any]:
    """Which targets were ever up since ``started`` (Unix seconds), and how many
    exemplars were kept; best effort: ``summary_error`` when Prometheus did not answer."""
    window = f"{max(1, int(time.time() - started) + 5)}s"
    try:
        with httpx.Client(trust_env=False, timeout=2.0, base_url=url) as client:
            query = {"query": f"max_over_time(up[{window}])"}
            ups = client.get("/api/v1/query", params=query).json()["data"]["result"]
            exemplars = client.get("/api/v1/query_exemplars", params={
                "query": f"{METRIC_CLIENT_LATENCY}_bucket", "start": started, "end": time.time(),
            }).json()["data"]  # fmt: skip
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
        return {"summary_error": f"{type(err).__name__}: {err}"}
    seen = {f"{r['metric'].get('job')} {r['metric'].get('instance')}": r["value"][1] == "1"
            for r in ups}  # fmt: skip
    return {
        "targets_up": sorted(name for name, up in seen.items() if up),
        "targets_never_up": sorted(name for name, up in seen.items() if not up),
        "exemplars": sum(len(series.get("exemplars") or []) for series in exemplars),
    }
