"""``peakops rollback``: flags, exit codes and output, against kmock over real HTTP.

kmock emulates the Kubernetes API on 127.0.0.1 because a cluster cannot run here
(fixtures: tests/platforms/test_kubernetes_rollback.py). Exit codes: 0 done or nothing
to do, 2 bad flags or refused, 3 API unreachable, 5 rollout not complete in time.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli import app
from collectors.rundir import RunDir
from tests.platforms.test_kubernetes_rollback import Cluster, deployment, template

ENV = {"PEAKOPS_ALLOWED_NAMESPACES": "shop,cart", "PEAKOPS_KUBECONFIG": "", "COLUMNS": "200"}


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with Cluster() as cluster:
        yield cluster


def peakops(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["rollback", *args], env=ENV | (env or {}))


def on(cluster: Cluster, *args: str, env: dict[str, str] | None = None) -> Result:
    return peakops("--kube-host", cluster.url, "-n", "shop", *args, env=env)


def test_help_names_every_flag() -> None:
    result = peakops("--help")
    assert result.exit_code == 0
    text = result.output.replace("\n", " ")
    for flag in ("--platform", "--namespace", "--deployment", "--rollout", "--to-revision",
                 "--dry-run", "--reason", "--run-dir", "--timeout", "--output"):  # fmt: skip
        assert flag in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--platform", "local"], "--platform local needs --run-dir"),
        (["-n", "shop"], "give exactly one of --deployment or --rollout"),
        (["-n", "shop", "--deployment", "a", "--rollout", "b"], "give exactly one of"),
        (["--deployment", "oms"], "--namespace is required"),
        (["-n", "shop", "--deployment", "oms", "--timeout", "soon"], "--timeout"),
        (["-n", "shop", "--deployment", "oms", "--to-revision", "0"], "--to-revision"),
    ],
    ids=["the local platform needs a run dir", "no target", "two targets", "no namespace",
         "an unreadable timeout", "a revision below 1"],
)  # fmt: skip
def test_bad_flags_exit_2(args: list[str], message: str) -> None:
    result = peakops(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_namespace_outside_the_allowlist_exits_2_before_any_request(cluster: Cluster) -> None:
    cluster.seed(deployment())
    for env in ({"PEAKOPS_ALLOWED_NAMESPACES": "cart"}, {"PEAKOPS_ALLOWED_NAMESPACES": ""}):
        result = on(cluster, "--deployment", "oms", env=env)
        assert result.exit_code == 2, result.output
        assert "namespace 'shop' is not allowlisted for rollback" in result.output
    assert cluster.calls() == []


def test_a_rollback_exits_0_and_reports_json_and_events(cluster: Cluster, tmp_path: Path) -> None:
    cluster.seed(deployment())
    run = RunDir.create(tmp_path, "20261127-000000-abcd", plan={}, git_sha=None)
    result = on(cluster, "--deployment", "oms", "--reason", "p99 breach",
                "--run-dir", str(run.path), "-o", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["action"], report["from_revision"], report["to_revision"]) == (
        "rolled_back", "3", "2"
    )  # fmt: skip
    assert report["run_id"] == run.run_id
    assert [e["type"] for e in run.events()] == ["rollback_started", "rollback_finished"]
    assert cluster.deployment()["spec"]["template"] == template("oms:2")


def test_a_dry_run_prints_the_patch_and_sends_no_patch(cluster: Cluster) -> None:
    cluster.seed(deployment())
    result = on(cluster, "--deployment", "oms", "--dry-run")
    assert result.exit_code == 0, result.output
    head, _, body = result.output.partition("PATCH /apis/apps/v1/namespaces/shop/deployments/oms\n")
    assert "dry run: rolling deployment shop/oms back from revision 3 to 2" in head
    assert json.loads(body)[0]["value"] == template("oms:2")
    assert [c.method for c in cluster.calls()] == ["GET", "GET"]


def test_a_rollout_not_complete_within_the_timeout_exits_5(cluster: Cluster) -> None:
    manifest = deployment()
    manifest["status"]["updatedReplicas"] = 1
    cluster.seed(manifest)
    result = on(cluster, "--deployment", "oms", "--timeout", "0.2s")
    assert result.exit_code == 5, result.output
    assert "did not complete within 0.2 s: 1 of 3 replicas updated" in result.output


def test_a_paused_deployment_exits_2(cluster: Cluster) -> None:
    cluster.seed(deployment(paused=True))
    result = on(cluster, "--deployment", "oms")
    assert result.exit_code == 2, result.output
    assert "it is paused" in result.output


def test_an_unreachable_api_exits_3() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the call: connection refused
    result = peakops("--kube-host", f"http://127.0.0.1:{port}", "-n", "shop",
                     "--deployment", "oms")  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "no answer from the kubernetes api" in result.output
