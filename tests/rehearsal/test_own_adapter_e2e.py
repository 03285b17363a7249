"""Your own OMS, end to end: a url target driven through an adapter module that lives
next to the plan, in every process that talks to the OMS, with a unit cap and cleanup.

The end-to-end test (``integration``) starts the reference OMS apart and reaches it only
by URL (``kind: url``), as a real OMS would be: real processes on 127.0.0.1 (~20 s).
The others run ``rehearse`` with fake seams (no processes): the adapter is checked
before anything starts, and cleanup is an event, never the verdict.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from collectors.rundir import RunDir
from platforms.local import LocalPlatform, OmsConfig

ROOT = Path(__file__).resolve().parents[2]
MAX_UNITS = 25

ADAPTER = '''\
"""A plan's own adapter: the reference one, leaving a mark in every process that builds it."""

import os
from pathlib import Path

from collectors.adapter import ReferenceOmsAdapter


class MarkedAdapter(ReferenceOmsAdapter):
    def __init__(self, base_url, truth_url, *, marker_dir, label, **kwargs):
        super().__init__(base_url, truth_url, **kwargs)
        Path(marker_dir).mkdir(exist_ok=True)
        (Path(marker_dir) / f"{os.getpid()}-{label}").write_text(
            ",".join(sorted(kwargs.get("headers") or {}))
        )
'''

PLAN = """\
apiVersion: peakops/v1
name: own-adapter
target:
  kind: url
  baseUrl: {base_url}
  truthUrl: {truth_url}
  allowHosts: [127.0.0.1]
  adapter: marked_adapter:MarkedAdapter
  adapterOptions:
    marker_dir: {markers}
    label: {{env: PEAKOPS_TEST_LABEL}}
  maxUnits: {max_units}
  testCustomer: qa-bot
  probes: {{rate: 20, settleTimeout: 2s}}
load:
  profile: constant
  duration: 5s
  baseline: 1200
  cancelRatio: 0.2
  channels: {{web: 1, app: 1}}
slos:
  minSamples: 1
  objectives:
    - {{id: errors, kind: error_ratio, max: 0.05}}
"""


@pytest.fixture(scope="module")
def oms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    with LocalPlatform(OmsConfig(replicas=1, skus=40), tmp_path_factory.mktemp("oms")) as oms:
        yield oms


def peakops(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PEAKOPS_TEST_LABEL": "built"}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=120, env=env,
    )  # fmt: skip


@pytest.mark.integration
@pytest.mark.parallel  # it checks where the adapter ran and what was cleaned up, not latency
def test_an_adapter_next_to_the_plan_runs_everywhere_caps_units_and_cleans_up(
    oms: LocalPlatform, tmp_path: Path
) -> None:
    plans, markers = tmp_path / "plans", tmp_path / "markers"
    plans.mkdir()
    (plans / "marked_adapter.py").write_text(ADAPTER)
    plan = plans / "peak.yaml"
    plan.write_text(PLAN.format(base_url=oms.base_url, truth_url=oms.inventory_url,
                                markers=markers, max_units=MAX_UNITS))  # fmt: skip
    runs = tmp_path / "runs"

    done = peakops("rehearse", "--plan", str(plan), "--run-dir", str(runs), "--processes", "2",
                   "--output", "json")  # fmt: skip

    # The verdict of a 5 s run on a busy machine is not the point (the load generator's
    # own health may be judged inconclusive): the run completed, and its SLO held.
    assert done.returncode in (0, 1, 4), done.stdout[-2000:] + done.stderr[-3000:]
    statuses = {e["slo_id"]: e["status"] for e in json.loads(done.stdout)["evaluations"]}
    assert statuses["errors"] == "pass", statuses
    (path,) = runs.iterdir()
    run = RunDir(path)
    assert run.header()["status"] == "completed"
    assert run.header()["plan_dir"] == str(plans.resolve())
    # Built by the master, both workers and the rehearsal's cleanup, each tagging its calls.
    built = list(markers.iterdir())
    assert len(built) >= 4 and {m.name.split("-")[1] for m in built} == {"built"}
    assert {m.read_text() for m in built} == {"X-Peakops-Run-Id,baggage"}

    ledger = list(run.records("ledger.jsonl"))
    places = [r for r in ledger if r["type"] == "place" and r["phase"] == "invoke"]
    assert sum(r["qty"] for r in places) == MAX_UNITS
    assert {r["source"] for r in places} == {"worker-0", "worker-1"}
    skus = {r["sku"] for r in places}
    assert skus and skus <= {f"SKU-{i:05d}" for i in range(1, 41)}  # the OMS's own list
    events = run.events()
    (reached,) = [e for e in events if e["type"] == "max_units_reached"]
    assert (reached["units"], reached["max_units"]) == (MAX_UNITS, MAX_UNITS)
    (skus_event,) = [e for e in events if e["type"] == "test_skus"]
    assert skus_event == {**skus_event, "count": 40, "source": "adapter.list_skus()"}

    confirmed = {r["order_id"] for r in ledger if r["type"] == "place" and r["phase"] == "ok"}
    assert confirmed
    with httpx.Client(base_url=oms.base_url, trust_env=False) as client:
        in_oms = {client.get(f"/orders/{o}").json()["status"] for o in confirmed}
    assert in_oms == {"cancelled"}
    (finished,) = [e for e in events if e["type"] == "cleanup_finished"]
    cancelled_in_run = {
        r["order_id"] for r in ledger if r["type"] == "cancel" and r["phase"] == "ok"
    }
    assert finished["cancelled"] == len(confirmed - cancelled_in_run) and finished["failed"] == 0

    again = peakops("cleanup", str(path), "--output", "json")
    report: dict[str, Any] = json.loads(again.stdout)
    assert again.returncode == 0, again.stderr
    assert (report["cancelled"], report["failed"]) == ([], [])
    assert report["earlier"] == finished["cancelled"]


# -- rehearse with fake seams ------------------------------------------------------------

STAGED = """\
from collectors.adapter import Outcome, ReferenceOmsAdapter


class StagedAdapter(ReferenceOmsAdapter):
    cancelled = []

    def __init__(self, base_url, truth_url, *, token, refuse=False, **kwargs):
        super().__init__(base_url, truth_url, **kwargs)
        self.refuse = refuse

    def cancel_order(self, order_id, location):
        if self.refuse:
            return Outcome("fail", order_id, reason="http 409: shipped")
        StagedAdapter.cancelled.append(order_id)
        return Outcome("ok", order_id, location)
"""

SEAMS_PLAN = """\
apiVersion: peakops/v1
target:
  kind: url
  baseUrl: http://127.0.0.1:9
  allowHosts: [127.0.0.1]
  adapter: {module}:StagedAdapter
  adapterOptions: {{token: {{env: PEAKOPS_TEST_TOKEN}}, refuse: {refuse}}}
{extra}load: {{duration: 2s, profile: constant, baseline: 60}}
slos:
  objectives:
    - {{id: errors, kind: error_ratio, max: 0.05}}
"""
_modules = iter(range(1, 1000))


class FakeUrlTarget:
    """An OMS peakops does not run, reached by URL; records what was asked of it."""

    kind = "url"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")

    def endpoints(self) -> Any:
        from platforms.base import Endpoints

        return Endpoints(base_url="http://127.0.0.1:9")

    def current_revision(self) -> None:
        return None

    def health(self) -> Any:
        from platforms.base import Health

        return Health(True, "fake")

    def fault_targets(self) -> Any:
        from platforms.base import FaultTargets

        return FaultTargets(kind="url")


class LedgerLoad:
    """A flood that confirmed o-1 and o-2, and cancelled o-2 itself."""

    def run(self, run: RunDir, endpoints: Any, **_: Any) -> None:
        from collectors.ledger import Ledger

        with run.appender("ledger.jsonl") as out:
            ledger = Ledger(out.append, source="load")
            fields = {"sku": "A", "qty": 1, "channel": "web"}
            for order_id in ("o-1", "o-2"):
                op = ledger.invoke("place", key=f"k-{order_id}", location=None, order_id=None,
                                   **fields)  # fmt: skip
                ledger.complete(op, "ok", order_id=order_id, location="loc-1")
            op = ledger.invoke("cancel", key="k-o-2", location="loc-1", order_id="o-2", **fields)
            ledger.complete(op, "ok")


def rehearse_with_fakes(
    tmp_path: Path, *, refuse: bool = False, extra: str = "", env: str | None = "t0k"
) -> tuple[Any, FakeUrlTarget, RunDir, Any]:
    from rehearsal.run import rehearse
    from rehearsal.seams import Seams
    from slo.loader import load_plan

    module = f"seams_adapter_{next(_modules)}"
    plans = tmp_path / "plans"
    plans.mkdir(parents=True, exist_ok=True)
    (plans / f"{module}.py").write_text(STAGED)
    plan_file = plans / "peak.yaml"
    plan_file.write_text(SEAMS_PLAN.format(module=module, refuse=str(refuse).lower(), extra=extra))
    target = FakeUrlTarget()
    seams = Seams(platform=lambda *_: target, load=LedgerLoad(), chaos=lambda: None)  # type: ignore[arg-type, return-value]
    saved = os.environ.pop("PEAKOPS_TEST_TOKEN", None)
    if env is not None:
        os.environ["PEAKOPS_TEST_TOKEN"] = env
    try:
        result = rehearse(load_plan(plan_file), tmp_path / "runs", seams=seams,
                          plan_dir=plans)  # fmt: skip
        (path,) = (tmp_path / "runs").iterdir()
        return result, target, RunDir(path), sys.modules[module].StagedAdapter
    finally:  # imports are cached by name: the next test's module must be its own
        sys.modules.pop(module, None)
        os.environ.pop("PEAKOPS_TEST_TOKEN", None)
        if saved is not None:
            os.environ["PEAKOPS_TEST_TOKEN"] = saved


def test_the_rehearsal_cancels_what_the_run_left_and_says_so_in_the_timeline(
    tmp_path: Path,
) -> None:
    _result, target, run, adapter = rehearse_with_fakes(tmp_path)
    assert adapter.cancelled == ["o-1"]
    assert run.header()["plan_dir"] == str((tmp_path / "plans").resolve())
    (event,) = [e for e in run.events() if e["type"] == "cleanup_finished"]
    assert (event["found"], event["cancelled"], event["failed"]) == (1, 1, 0)
    assert target.calls == ["start", "stop"]  # cleaned up while the target was still up


def test_a_cleanup_that_leaves_orders_changes_nothing_in_the_verdict(tmp_path: Path) -> None:
    refused, _, run, _ = rehearse_with_fakes(tmp_path / "a", refuse=True)
    skipped, _, other, _ = rehearse_with_fakes(tmp_path / "b", extra="  cleanup: false\n")
    (event,) = [e for e in run.events() if e["type"] == "cleanup_finished"]
    assert event["failures"] == ["o-1: http 409: shipped"]
    assert not [e for e in other.events() if e["type"].startswith("cleanup")]
    assert refused.verdict.status == skipped.verdict.status
    assert refused.verdict.exit_code == skipped.verdict.exit_code


def test_a_secret_not_set_stops_the_rehearsal_before_the_target_is_touched(
    tmp_path: Path,
) -> None:
    from slo.errors import UsageError

    with pytest.raises(UsageError, match="PEAKOPS_TEST_TOKEN is not set"):
        rehearse_with_fakes(tmp_path, env=None)
    (path,) = (tmp_path / "runs").iterdir()
    assert RunDir(path).header()["status"] == "crashed"
