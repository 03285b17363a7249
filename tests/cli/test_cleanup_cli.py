"""``peakops cleanup RUN_DIR``: the run's own adapter (from run.json: the plan, its
directory, its options) cancels what the run left; the exit code says how that went.

No OMS runs: the plan's adapter is a module next to the plan that answers from its
options, so every outcome can be staged.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from collectors.ledger import Ledger
from collectors.rundir import RunDir
from slo.loader import load_plan_text
from slo.plan import plan_snapshot
from slo.runfiles import LEDGER_FILE

ADAPTER = '''\
import httpx

from collectors.adapter import Outcome, ReferenceOmsAdapter


class StagedAdapter(ReferenceOmsAdapter):
    """Cancels every order but those in ``refuse``; ``down``: the OMS does not answer."""

    def __init__(self, base_url, truth_url, *, refuse=(), down=False, token="", **kwargs):
        super().__init__(base_url, truth_url, **kwargs)
        self.refuse, self.down, self.token = set(refuse), down, token
        self.run_id = (kwargs.get("headers") or {}).get("X-Peakops-Run-Id")

    def cancel_order(self, order_id, location):
        if self.down:
            raise httpx.ConnectError("connection refused")
        if self.token != "s3cr3t" or self.run_id is None:
            return Outcome("fail", order_id, reason="http 401")
        if order_id in self.refuse:
            return Outcome("fail", order_id, reason="http 409: the order has shipped")
        return Outcome("ok", order_id, location)
'''

PLAN = """\
apiVersion: peakops/v1
target:
  kind: url
  baseUrl: {base_url}
  allowHosts: [127.0.0.1, 203.0.113.7]
  adapter: {module}:StagedAdapter
  adapterOptions: {{token: {{env: SHOP_TOKEN}}, {options}}}
load: {{duration: 10s, baseline: 60}}
slos:
  objectives:
    - {{id: errors, kind: error_ratio, max: 0.01}}
"""
_modules = count(1)


@pytest.fixture
def module(tmp_path: Path) -> Iterator[str]:
    name = f"staged_adapter_{next(_modules)}"
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / f"{name}.py").write_text(ADAPTER)
    yield name
    sys.modules.pop(name, None)


def make_run(tmp_path: Path, module: str, options: str = "down: false",
             base_url: str = "http://127.0.0.1:9") -> Path:  # fmt: skip
    """A finished run that confirmed o-1, o-2 and o-3 and cancelled o-3 itself."""
    plan = load_plan_text(PLAN.format(base_url=base_url, module=module, options=options), "p")
    run = RunDir.create(tmp_path / "runs", "run-1", plan=plan_snapshot(plan), git_sha=None)
    run.update_header(plan_dir=str(tmp_path / "plans"), target_url=base_url)
    with run.appender(LEDGER_FILE) as out:
        ledger = Ledger(out.append, source="load")
        for order_id in ("o-1", "o-2", "o-3"):
            op = ledger.invoke("place", key=f"k-{order_id}", sku="A", qty=1, location=None,
                               channel="web")  # fmt: skip
            ledger.complete(op, "ok", order_id=order_id, location="loc-1")
        ledger.complete(ledger.invoke("cancel", order_id="o-3"), "ok")
    return run.path


def cleanup(run: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    env = {"SHOP_TOKEN": "s3cr3t", "PEAKOPS_ALLOWED_HOSTS": ""} if env is None else env
    return CliRunner().invoke(app, ["cleanup", str(run), *args], env=env)


def test_everything_left_is_cancelled_through_the_runs_own_adapter_exit_0(
    tmp_path: Path, module: str
) -> None:
    result = cleanup(make_run(tmp_path, module))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "cleanup: cancelled 2 of the run's 2 orders"


def test_a_second_cleanup_finds_nothing_left(tmp_path: Path, module: str) -> None:
    run = make_run(tmp_path, module)
    cleanup(run)
    result = cleanup(run, "--output", "json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert (report["cancelled"], report["earlier"], report["failed"]) == ([], 2, [])


def test_orders_that_could_not_be_cancelled_are_named_with_why_exit_1(
    tmp_path: Path, module: str
) -> None:
    result = cleanup(make_run(tmp_path, module, options="refuse: [o-2]"))
    assert result.exit_code == 1, result.output
    assert "cleanup: cancelled 1 of the run's 2 orders; 1 could not be cancelled" in result.output
    assert "not cancelled: o-2: http 409: the order has shipped" in result.output


def test_an_oms_that_does_not_answer_exits_3(tmp_path: Path, module: str) -> None:
    result = cleanup(make_run(tmp_path, module, options="down: true"), "--output", "json")
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["unreachable"] is True and len(report["failed"]) == 2


def test_a_secret_not_in_the_environment_is_a_usage_error_naming_it(
    tmp_path: Path, module: str
) -> None:
    result = cleanup(make_run(tmp_path, module), env={})
    assert result.exit_code == 2
    assert "target.adapterOptions.token: environment variable SHOP_TOKEN is not set" in (
        result.output.replace("\n", "")
    )


def test_a_host_only_the_plan_allows_is_refused_before_any_call(
    tmp_path: Path, module: str
) -> None:
    result = cleanup(make_run(tmp_path, module, base_url="http://203.0.113.7:8080"))
    assert result.exit_code == 2
    assert "allowed by the plan but not by the operator" in result.output.replace("\n", " ")


def test_a_directory_that_is_no_run_is_a_usage_error(tmp_path: Path) -> None:
    result = cleanup(tmp_path)
    assert result.exit_code == 2
    assert "not a peakops run directory" in result.output
