"""The load command line says when the rehearsal's own Prometheus scrapes the load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collectors.rundir import EventLog, RunDir
from rehearsal.load import locust_command, scraped_by_own_prometheus


def run_with(tmp_path: Path, *events: dict[str, Any]) -> RunDir:
    run = RunDir.create(tmp_path, "run-1", plan={}, git_sha=None)
    log = EventLog(run, source="monitoring")
    for event in events:
        log.emit(**event)
    log.close()
    return run


@pytest.mark.parametrize(
    ("events", "scraped"),
    [([{"type_": "monitoring_started", "mode": "local"}], True),
     ([{"type_": "monitoring_started", "mode": "external"}], False),
     ([{"type_": "monitoring_skipped", "reason": "prometheus not found on PATH"}], False),
     ([], False)],
    ids=["its own Prometheus scrapes the load through the relay",
         "an existing Prometheus does not scrape this load",
         "no Prometheus at all", "nothing said about monitoring"],
)  # fmt: skip
def test_the_load_awaits_scrapes_only_under_the_rehearsals_own_prometheus(
    tmp_path: Path, events: list[dict[str, Any]], scraped: bool
) -> None:
    run = run_with(tmp_path, *events)
    assert scraped_by_own_prometheus(run) is scraped
    command = locust_command(run, "http://127.0.0.1:8080", await_scrape=scraped)
    assert ("--await-scrape" in command) is scraped
