"""A real rehearsal of docs/plans/store-offline.yaml, moved into a 20 s flood.

The store node keeps selling while its link to inventory is blackholed, and the
verdict reports the drift during the outage, the time to reconcile and the oversell.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from collectors.rundir import RunDir

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def short_plan(tmp_path: Path, *extra: tuple[str, str]) -> Path:
    text = (ROOT / "docs" / "plans" / "store-offline.yaml").read_text()
    # The outage (from ~3.6 s: the runner checks its hypothesis for 2 s first) ends by
    # ~9 s; the hypothesis is checked again after the 5 s recovery allowance, before the
    # load ends.
    edits = [("duration: 45s", "duration: 20s"), ("offset: 20s", "offset: 1s"),
             ("duration: 10s", "duration: 5s"), *extra]  # fmt: skip
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "store-offline.yaml"
    path.write_text(text)
    return path


def rehearse(plan: Path, runs: Path) -> tuple[int, dict, Path]:
    done = subprocess.run(
        [sys.executable, "-m", "cli", "rehearse", "--plan", str(plan),
         "--run-dir", str(runs), "--output", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-3000:]
    (run,) = runs.iterdir()
    return done.returncode, json.loads(done.stdout), run


def test_a_store_sells_through_an_outage_and_reconciles(tmp_path: Path) -> None:
    code, verdict, run = rehearse(short_plan(tmp_path), tmp_path / "runs")
    results = {r["slo_id"]: r for r in verdict["evaluations"]}
    reconcile = json.loads((run / "reconcile.json").read_text())
    (outage,) = reconcile["outages"]
    # The store sold while offline: units the source of truth did not know yet.
    assert outage["peak_pending_units"] > 0, outage
    assert outage["reconcile_s"] is not None and outage["reconcile_s"] < 5, outage
    assert results["store-reconciles"]["status"] == "pass", results["store-reconciles"]
    assert results["no-oversell"]["status"] == "pass", results["no-oversell"]
    # The truth drifted during the outage; the SLO tolerates only that fault.
    drift = json.loads((run / "drift.json").read_text())
    assert drift["violations_by_fault"].get("store-offline", {}).get("truth_outside_interval")
    # No drift outside the outage. A false sold-out may still happen there: the reference
    # OMS (v1) reserves at the one location its channel view shows fullest, and refuses
    # when that location has just sold out even if another still has the SKU (seen in CI:
    # one such order at a warehouse 6 s after the heal; the ledger shows the other
    # location's unit sold 0.3 s later). That is judged by few-false-sold-outs, not here.
    outside = drift["violations_by_fault"].get("none", {})
    assert set(outside) <= {"undersell"}, drift["violations_by_fault"]
    assert results["few-false-sold-outs"]["status"] == "pass", results["few-false-sold-outs"]
    assert results["no-stock-drift"]["status"] == "pass", results["no-stock-drift"]
    assert any(r.startswith("store outage ") for r in verdict["reasons"]), verdict["reasons"]
    # Store sales went to the store node, which recorded them in its own database.
    ledger = list(RunDir(run).records("ledger.jsonl"))  # compressed after the verdict
    store_sales = [r for r in ledger if r["phase"] == "ok" and r.get("channel") == "store"
                   and r["type"] == "place"]  # fmt: skip
    assert store_sales and {r["location"] for r in store_sales} == {"store-1"}
    assert code == 0, verdict["reasons"]


def test_store_stock_also_sold_online_is_oversold_once_the_store_reconciles(
    tmp_path: Path,
) -> None:
    """With shipFromStore the web sells the units the store sells offline: the checker
    reports the oversell, blamed on the outage, and the truth ends below zero."""
    plan = short_plan(
        tmp_path,
        ("  stores: 1 ", "  shipFromStore: true\n  stores: 1 "),
        ("    skus: 200", "    skus: 10"),
        ("    minStock: 5 ", "    minStock: 10 "),
        ("    maxStock: 60", "    maxStock: 20"),
    )
    code, verdict, run = rehearse(plan, tmp_path / "runs")
    results = {r["slo_id"]: r for r in verdict["evaluations"]}
    assert code == 1, verdict["reasons"]
    assert results["no-oversell"]["status"] == "fail", results["no-oversell"]
    drift = json.loads((run / "drift.json").read_text())
    assert drift["oversell_units"] > 0
    assert drift["violations_by_fault"]["store-offline"].get("oversell"), drift[
        "violations_by_fault"
    ]
    final = list(RunDir(run).records("stock.jsonl"))
    below_zero = [r for r in final if r["kind"] == "truth" and r["phase"] == "final"
                  and r["available"] < 0]  # fmt: skip
    assert below_zero and {r["location"] for r in below_zero} == {"store-1"}
