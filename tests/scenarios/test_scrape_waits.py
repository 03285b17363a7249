"""The load session's live metrics as Prometheus must see them: the endpoints it calls
at zero from the start, and the waits for scrapes around the load (no Locust, no server).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.openmetrics.exposition import generate_latest

from collectors.rundir import RunDir
from scenarios.session import LoadSession
from slo.loader import load_plan_text
from slo.plan import plan_snapshot

PLAN = """\
apiVersion: peakops/v1
target: {{kind: embedded}}
load: {{profile: constant, duration: 10s, baseline: 60, cancelRatio: {cancel}}}
slos:
  objectives:
    - {{id: errors, kind: error_ratio, max: 0.01}}
"""


def session(tmp_path: Path, cancel: float = 0.1) -> LoadSession:
    plan = load_plan_text(PLAN.format(cancel=cancel), "peak.yaml")
    run = RunDir.create(tmp_path, "run-1", plan=plan_snapshot(plan), git_sha=None)
    return LoadSession(run, plan, source="load", buffered=False)


@pytest.mark.parametrize(
    ("cancel", "expected"),
    [(0.1, ["GET /stock/{sku}", "POST /orders", "POST /orders/{id}/cancel"]),
     (0.0, ["GET /stock/{sku}", "POST /orders"])],
    ids=["shoppers that cancel call three endpoints", "shoppers that never cancel call two"],
)  # fmt: skip
def test_the_endpoints_registered_at_zero_are_those_the_journeys_call(
    tmp_path: Path, cancel: float, expected: list[str]
) -> None:
    assert session(tmp_path, cancel).endpoints() == expected


def test_a_process_never_scraped_does_not_wait_for_its_final_scrape(tmp_path: Path) -> None:
    s = session(tmp_path)
    assert s.await_final_scrape(0.0) is None  # no Prometheus: load_finished at once


def test_the_final_wait_is_over_once_a_scrape_began_after_the_flush(tmp_path: Path) -> None:
    s = session(tmp_path)
    assert s.metrics is not None
    generate_latest(s.metrics.registry())  # a scrape, after the moment 0.0
    assert s.await_final_scrape(0.0) is True


def test_the_arrivals_wait_for_two_scrapes_since_load_started(tmp_path: Path) -> None:
    s = session(tmp_path)
    assert s.metrics is not None
    generate_latest(s.metrics.registry())
    generate_latest(s.metrics.registry())
    assert s.await_first_scrapes(0.0) is True
