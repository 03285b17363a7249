"""The load process end to end: real Locust, the real reference OMS, real processes.

Covers distributed runs (``--processes 2`` merging into one run directory), traces
that cross from the load generator into the OMS, and plain ``locust -f`` use.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.jsonl import read_stream, stream_files
from collectors.latency import merge
from collectors.rundir import RunDir
from platforms.local import LocalPlatform, OmsConfig

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def oms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    work = tmp_path_factory.mktemp("oms")
    with LocalPlatform(OmsConfig(replicas=2), work) as platform:
        yield platform


def short_plan(duration: str, **replacements: str) -> str:
    """The shipped plan, shortened to ``duration`` and without its chaos schedule."""
    text = re.sub(r"^chaos:.*?(?=^rollback:)", "chaos: []\n\n", (ROOT / "peak.yaml").read_text(),
                  flags=re.MULTILINE | re.DOTALL)  # fmt: skip
    text = text.replace("duration: 60s", f"duration: {duration}")
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text


def peakops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip


def only_run(root: Path) -> RunDir:
    (path,) = [p for p in root.iterdir() if (p / "run.json").exists()]
    return RunDir(path)


def test_two_load_processes_merge_exactly_into_one_run(oms: LocalPlatform, tmp_path: Path) -> None:
    done = peakops("load", "--url", f"{oms.base_url}/healthz", "--rate", "200/s",
                   "--duration", "6s", "--processes", "2", "--run-dir", str(tmp_path),
                   "--output", "json")  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    verdict = json.loads(done.stdout)
    assert verdict["load"]["arrivals"] == {"planned": 1200.0, "sent": 1200, "dropped": 0}
    run = only_run(tmp_path)
    records = list(run.records("latency.jsonl"))
    assert {r["source"] for r in records} == {"worker-0", "worker-1"}
    ok, fail, dist, failed, _errors = merge(records)["GET /healthz"]
    assert ok + fail == 1200
    assert dist.total_count == ok  # latency: the successful requests ...
    assert failed is not None and failed.total_count == fail  # ... failures apart
    per_worker = {
        source: sum(r["ok"] + r["fail"] for r in records if r["source"] == source)
        for source in ("worker-0", "worker-1")
    }
    assert per_worker == {"worker-0": 600, "worker-1": 600}


def test_trace_ids_cross_from_the_load_generator_into_the_oms(tmp_path: Path) -> None:
    plan = tmp_path / "traced.yaml"
    plan.write_text(short_plan("5s", **{"  seed: 1\n": "  seed: 1\n  traceSampleRatio: 1.0\n"}))
    done = peakops("rehearse", "--plan", str(plan), "--run-dir", str(tmp_path / "runs"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = only_run(tmp_path / "runs")
    client = spans(run.file("traces.jsonl"))
    # the store channel's orders go to the store node, the others to the orders replicas
    folder = run.file("traces")  # compressed after the verdict
    files = [*stream_files(folder, "orders-*.jsonl"), *stream_files(folder, "store-*.jsonl")]
    server = [s for f in sorted(files) for s in spans(f)]
    client_orders = {s["spanId"]: s["traceId"] for s in client if s["name"] == "POST /orders"}
    server_orders = [s for s in server if s["name"] == "POST /orders" and s["kind"] == 2]
    assert client_orders and server_orders
    linked = [s for s in server_orders if client_orders.get(s.get("parentSpanId")) == s["traceId"]]
    assert len(linked) == len(server_orders) == len(client_orders)
    assert any(f.name.startswith("store-") for f in files)  # plain or .gz


def spans(path: Path) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for line in read_stream(path).decode().splitlines():
        for resource in json.loads(line).get("resourceSpans", []):
            for scope in resource.get("scopeSpans", []):
                out.extend(scope.get("spans", []))
    return out


def test_the_locustfile_runs_with_plain_locust(oms: LocalPlatform, tmp_path: Path) -> None:
    plan = tmp_path / "plain.yaml"
    # Without a truth URL the views can never be shown to agree: settle gives up at 2 s.
    plan.write_text(short_plan("4s", **{"runDir: runs": f"runDir: {tmp_path / 'runs'}",
                                        "    viewStaleness: 2s": "    viewStaleness: 2s\n"
                                        "    settleTimeout: 2s"}))  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(ROOT / "scenarios" / "locustfile.py"),
         "--headless", "--plan", str(plan), "--host", oms.base_url, "--only-summary"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    run = only_run(tmp_path / "runs")
    endpoints = {r["endpoint"] for r in run.records("latency.jsonl")}
    assert {"GET /stock/{sku}", "POST /orders"} <= endpoints
    types = [e["type"] for e in run.events()]
    assert types[0] == "load_started" and "load_finished" in types
    # without --truth-url the stock watch still probes the channel views
    assert any(r["kind"] == "view" for r in run.records("stock.jsonl"))
    # no rehearsal stamps the end of a run plain Locust made: the load process does
    assert run.header()["status"] == "completed"
