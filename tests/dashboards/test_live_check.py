"""The live check (issue #14): a short rehearsal with its real Prometheus, and every
panel query of the plan's three dashboards returns at least one series for that run.

The dashboards are built for the rehearsed plan as ``peakops dashboards build`` builds
them, with the rehearsal's alert window set, so the burn panels read the windows of the
rules the run's Prometheus evaluates. They are queried over the load window while that
Prometheus still runs (the monitor is exited after the gate; ``Inspected`` runs first).

The plan exercises every producer a rehearsal has: the load process (client latency,
requests, arrivals, the drift checker's gauges), the reference OMS with a store node,
one chaos fault (a 2 s network cut), drift probes, and the recording rules; an SLO
that breaches for sure (POST /orders under 1 ms) makes a burn-rate alert fire, so the
alert panels have a series whatever else happens.

Peak-day panels are told apart by what they read, not by a list kept here: a query
whose series are all produced by the peak-day collector (``dashboards.catalog``, from
``slo.conventions``), or a burn row of an SLO the alert spec says the collector serves
(``alerts.alert_spec``: a rehearsal runs no collector and evaluates no rules for it).
Every other query must return a series; the peak-day ones are named, never dropped
silently, and each must be one of those two kinds.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from alerts import alert_spec
from alerts.spec import COLLECTOR
from cli.dashboards_inputs import burn_limits, dashboard_inputs, metric_catalog
from collectors.rundir import RunDir
from dashboards import DASHBOARDS, PanelSeries, build_files, panel_series
from dashboards.catalog import COLLECTOR as PEAK_DAY_COLLECTOR
from dashboards.promql_check import parse_query
from rehearsal.monitoring import Monitor, Notice, default_monitor
from rehearsal.run import rehearse
from slo.loader import load_plan_text
from slo.plan import Plan
from tests.rehearsal.kept_up import Inspected

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parallel,  # it checks that series exist, not how fast anything was
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs the prometheus binary"),
]

ROOT = Path(__file__).resolve().parents[2]


def live_plan() -> Plan:
    """peak.yaml in 20 s: a store, drift probes, one 2 s network cut; the dashboards'
    burn windows are the rehearsal's (``slos.alertWindows: rehearsal``)."""
    text = (ROOT / "peak.yaml").read_text()
    chaos = "chaos:\n  - experiment: network-cut\n    offset: 6s\n    duration: 2s\n"
    text = text[: text.index("\nchaos:")] + "\n" + chaos + text[text.index("\nrollback:") :]
    text = text.replace("duration: 60s", "duration: 20s")
    text = text.replace(
        "  onInconclusive: fail", "  onInconclusive: fail\n  alertWindows: rehearsal"
    )
    breach = (
        "  objectives:\n"
        "    - {id: always-breached, kind: latency, endpoint: POST /orders, percentile: 99,\n"
        "       threshold: 1ms}\n"
    )
    text = text.replace("  objectives:\n", breach, 1)
    return load_plan_text(text, "live.yaml")


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[PanelSeries]]:
    plan = live_plan()
    files = build_files(dashboard_inputs(plan), burn_limits(plan))
    docs = {name: json.loads(text) for name, text in files.items()}
    found: dict[str, list[PanelSeries]] = {}
    errors: list[str] = []

    def inspect(url: str, run: RunDir) -> None:
        try:
            events = run.events()
            start = next(e["ts"] for e in events if e["type"] == "load_started")
            end = next(e["ts"] for e in events if e["type"] == "load_finished")
            for name, doc in docs.items():
                found[name] = panel_series(doc, url, start, end)
        except Exception as err:
            errors.append(f"{type(err).__name__}: {err}")

    def monitor(plan: Plan, run: RunDir, notice: Notice, hosts: frozenset[str]) -> Monitor:
        return Inspected(default_monitor(plan, run, notice, hosts), run, inspect)

    rehearse(plan, tmp_path_factory.mktemp("live"), monitor=monitor, notice=lambda m: None)
    assert not errors, errors
    return found


def collect_only(expr: str) -> bool:
    """Whether ``expr`` reads only what the peak-day collector serves (see the module doc)."""
    plan = live_plan()
    served = {slo.id: slo.served_by for slo in alert_spec(plan).slos}
    slo = re.search(r'slo="([^"]+)"', expr)
    if slo is not None and served.get(slo[1]) == COLLECTOR:
        return True
    names = [name for name in parse_query(expr).metrics if name is not None]
    found = metric_catalog()
    return bool(names) and all(found.producer(name) == PEAK_DAY_COLLECTOR for name in names)


def _said(name: str, query: PanelSeries) -> str:
    return f"{name}: {query.panel} [{query.ref_id}]: {query.expr} ({query.error or 'no series'})"


def test_every_panel_a_rehearsal_feeds_returns_a_series(
    measured: dict[str, list[PanelSeries]],
) -> None:
    queries = [(name, q) for name, found in measured.items() for q in found]
    assert sorted(measured) == sorted(f"default-peak-{which}.json" for which in DASHBOARDS)
    assert all(len(found) > 0 for found in measured.values())
    empty = [_said(name, q) for name, q in queries if q.series < 1 and not collect_only(q.expr)]
    assert not empty, "\n".join(empty)


def test_the_only_panels_excused_are_peak_day_ones(
    measured: dict[str, list[PanelSeries]],
) -> None:
    """What the rehearsal cannot feed, said by name (``pytest -s``): the stock
    dashboard's collector row and the burn rows of collector-served SLOs."""
    excused = [(name, q) for name, found in measured.items() for q in found
               if collect_only(q.expr)]  # fmt: skip
    for name, query in excused:
        print("peak day only (peakops collect):", _said(name, query))
    panels = {(name, q.panel) for name, q in excused}
    stock = {panel for name, panel in panels if name.endswith("-stock.json")}
    assert stock == {
        "View drift per channel", "Observations outside the allowance",
        "Negative stock readings", "Convergence-lag bounds p99 per channel",
        "Oldest change not shown yet", "Probing stopped", "Seconds since the last probe",
        "Probe errors",
    }  # fmt: skip
    burn = {q.expr for name, q in excused if name.endswith("-slo-burn.json")}
    slos = {re.search(r'slo="([^"]+)"', expr)[1] for expr in burn}  # type: ignore[index]
    assert slos == {"no-oversell", "no-stock-drift", "views-converge"}
    assert not any(name.endswith("-overview.json") for name, _ in panels)
