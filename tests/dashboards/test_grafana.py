"""push and annotate against an HTTP emulation of Grafana (tests/dashboards/grafana_emulator.py):
no Grafana server can run here. The exact requests are asserted, and every error answer
gives a clear message and exit 3, without the token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from collectors.rundir import RunDir
from tests.dashboards.grafana_emulator import Grafana, running_grafana

TOKEN = "glsa_s3cret-token-value"
GENERATED = sorted(Path("dashboards/generated").glob("*.json"))
runner = CliRunner()


@pytest.fixture
def grafana(monkeypatch: pytest.MonkeyPatch) -> Iterator[Grafana]:
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    monkeypatch.delenv("PEAKOPS_ALLOWED_HOSTS", raising=False)
    with running_grafana() as state:
        yield state


def _push(grafana: Grafana, *extra: str) -> tuple[int, str]:
    result = runner.invoke(
        app, ["dashboards", "push", "--grafana-url", grafana.url, *map(str, GENERATED), *extra]
    )
    return result.exit_code, result.output


def test_push_creates_the_folder_then_overwrites_each_dashboard_with_sha_and_run_id(
    grafana: Grafana,
) -> None:
    code, out = _push(grafana, "--folder", "Peak 2026", "--run-id", "20261127-0000-ab12")
    assert code == 0, out
    calls = [(r.method, r.path) for r in grafana.requests]
    uids = [json.loads(p.read_text())["uid"] for p in GENERATED]
    assert calls == [
        ("GET", "/api/folders/peakops-peak-2026"),
        ("POST", "/api/folders"),
        *[("POST", "/api/dashboards/db")] * len(uids),
    ]
    assert grafana.requests[1].body == {"title": "Peak 2026", "uid": "peakops-peak-2026"}
    for request, path in zip(grafana.requests[2:], GENERATED, strict=True):
        assert request.body["dashboard"] == {**json.loads(path.read_text()), "id": None}
        assert request.body["overwrite"] is True
        assert request.body["folderUid"] == "peakops-peak-2026"
        assert "run 20261127-0000-ab12" in request.body["message"]
        assert request.body["message"].startswith("peakops dashboards push: git ")
    assert {r.auth for r in grafana.requests} == {f"Bearer {TOKEN}"}
    assert TOKEN not in out


def test_push_into_an_existing_folder_does_not_create_it(grafana: Grafana) -> None:
    grafana.folders["peakops-ops"] = {"uid": "peakops-ops", "title": "ops"}
    code, _ = _push(grafana, "--folder", "ops")
    assert code == 0
    assert ("POST", "/api/folders") not in [(r.method, r.path) for r in grafana.requests]


def test_dry_run_changes_nothing_and_diffs_against_grafanas_copy(grafana: Grafana) -> None:
    first = json.loads(GENERATED[0].read_text())
    grafana.dashboards[first["uid"]] = {**first, "id": 3, "version": 9, "title": "old title"}
    code, out = _push(grafana, "--dry-run")
    assert code == 0, out
    assert all(r.method == "GET" for r in grafana.requests)
    assert [r.path for r in grafana.requests] == [
        f"/api/dashboards/uid/{json.loads(p.read_text())['uid']}" for p in GENERATED
    ]
    assert '-  "title": "old title",' in out
    assert f'+  "title": "{first["title"]}",' in out
    assert "(absent)" in out  # the other two are not in Grafana yet
    assert '"version"' not in out  # Grafana's own fields are not compared


def test_dry_run_of_dashboards_grafana_already_has_says_no_change(grafana: Grafana) -> None:
    for path in GENERATED:
        doc = json.loads(path.read_text())
        grafana.dashboards[doc["uid"]] = {**doc, "id": 1, "version": 4}
    code, out = _push(grafana, "--dry-run")
    assert code == 0
    assert "no change" in out


@pytest.mark.parametrize(
    ("method", "path", "status", "expected"),
    [
        ("POST", "/api/dashboards/db", 401, "refused the token (401 unauthorized)"),
        ("POST", "/api/dashboards/db", 404, "not found (404): folder not found"),
        ("POST", "/api/dashboards/db", 412, "version conflict (412 precondition failed)"),
        ("POST", "/api/dashboards/db", 500, "HTTP 500: folder not found"),
        ("POST", "/api/dashboards/db", 503, "HTTP 503"),
        ("GET", "/api/folders/peakops-ops", 401, "refused the token (401 unauthorized)"),
    ],
    ids=[
        "a refused token is exit 3 and names GRAFANA_TOKEN",
        "a missing folder (404) is exit 3 and says not found",
        "a version conflict (412) is exit 3 and says so",
        "a server error (500) is exit 3 with Grafana's message",
        "an unavailable Grafana (503) is exit 3",
        "a refused token on the folder lookup is exit 3 before any dashboard is sent",
    ],
)
def test_push_error_answers_are_a_clear_message_and_exit_3(
    grafana: Grafana, method: str, path: str, status: int, expected: str
) -> None:
    grafana.fail(method, path, status, "folder not found")
    code, out = _push(grafana, "--folder", "ops")
    assert code == 3, out
    assert expected in " ".join(out.split())
    assert TOKEN not in out


def test_dry_run_error_answer_is_exit_3(grafana: Grafana) -> None:
    uid = json.loads(GENERATED[0].read_text())["uid"]
    grafana.fail("GET", f"/api/dashboards/uid/{uid}", 502, "bad gateway")
    code, out = _push(grafana, "--dry-run")
    assert code == 3
    assert "HTTP 502: bad gateway" in " ".join(out.split())


def test_unreachable_grafana_is_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    with running_grafana() as gone:
        url = gone.url
    result = runner.invoke(app, ["dashboards", "push", "--grafana-url", url, str(GENERATED[0])])
    assert result.exit_code == 3
    assert "is unreachable" in result.output


def test_push_without_a_token_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    with running_grafana() as grafana:
        result = runner.invoke(app, ["dashboards", "push", "--grafana-url", grafana.url])
        assert grafana.requests == []
    assert result.exit_code == 2
    assert "GRAFANA_TOKEN is not set" in result.output


def test_a_host_the_operator_did_not_allow_is_refused_before_any_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    monkeypatch.delenv("PEAKOPS_ALLOWED_HOSTS", raising=False)
    result = runner.invoke(
        app, ["dashboards", "push", "--grafana-url", "https://grafana.example.com"]
    )
    assert result.exit_code == 2
    assert "not allowed by the operator" in result.output


def _run_dir(tmp_path: Path) -> Path:
    run = RunDir.create(tmp_path, "20261127-101010-ab12", plan={}, git_sha=None)
    events = [
        {"ts": 1000.0, "type": "load_started"},
        {"ts": 1000.5, "type": "platform_started", "version": "v2"},
        {"ts": 1008.0, "type": "fault_started", "id": "f1", "fault": "kill-replica"},
        {"ts": 1010.0, "type": "fault_stopped", "id": "f1"},
        {"ts": 1020.0, "type": "alert_firing", "alert": "PeakopsSLOBurnPageQuick",
         "slo": "error-ratio", "severity": "page", "started_at": "a", "started_ts": 1019.0},
        {"ts": 1030.0, "type": "alert_resolved", "alert": "PeakopsSLOBurnPageQuick",
         "slo": "error-ratio", "severity": "page", "started_at": "a", "started_ts": 1019.0,
         "ended_ts": 1030.0},
        {"ts": 1040.0, "type": "rollback_started", "target": "deployment shop/oms",
         "reason": "slo breach"},
        {"ts": 1045.0, "type": "rollback_finished", "target": "deployment shop/oms"},
        {"ts": 1050.0, "type": "load_finished"},
    ]  # fmt: skip
    (run.path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return run.path


def test_annotate_posts_fault_deploy_alert_and_rollback_windows(
    grafana: Grafana, tmp_path: Path
) -> None:
    run = _run_dir(tmp_path)
    result = runner.invoke(app, ["dashboards", "annotate", str(run), "--grafana-url", grafana.url])
    assert result.exit_code == 0, result.output
    assert [(r.method, r.path) for r in grafana.requests] == [("POST", "/api/annotations")] * 4
    tag = "run:20261127-101010-ab12"
    assert [r.body for r in grafana.requests] == [
        {"panelId": None, "time": 1000500, "timeEnd": 1000500,
         "tags": ["peakops", "deploy", tag], "text": "deploy v2"},
        {"panelId": None, "time": 1008000, "timeEnd": 1010000,
         "tags": ["peakops", "fault", tag, "kill-replica"], "text": "fault kill-replica"},
        {"panelId": None, "time": 1019000, "timeEnd": 1030000,
         "tags": ["peakops", "alert", tag, "error-ratio", "page"],
         "text": "PeakopsSLOBurnPageQuick page SLO error-ratio"},
        {"panelId": None, "time": 1040000, "timeEnd": 1045000,
         "tags": ["peakops", "rollback", tag],
         "text": "rolled back deployment shop/oms: slo breach"},
    ]  # fmt: skip
    assert "posted 4 annotations" in result.output


def test_annotate_error_answer_is_exit_3(grafana: Grafana, tmp_path: Path) -> None:
    grafana.fail("POST", "/api/annotations", 401, "invalid API key")
    run = _run_dir(tmp_path)
    result = runner.invoke(app, ["dashboards", "annotate", str(run), "--grafana-url", grafana.url])
    assert result.exit_code == 3
    assert "refused the token (401 unauthorized)" in " ".join(result.output.split())
    assert TOKEN not in result.output
