"""build_platform: the right platform for each shape of plan, and the one it refuses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from platforms import FaultTargets, LocalPlatform, OmsConfig
from platforms.base import Endpoints
from platforms.external import ExternalTarget
from platforms.factory import build_platform, oms_config
from platforms.kubernetes import KubeClients, build_clients
from platforms.kubernetes_deployment import KubernetesDeployment
from slo.errors import UsageError
from slo.loader import load_plan_text
from slo.plan import Plan

REST = """\
load: {duration: 60s, baseline: 10}
slos:
  objectives:
    - {id: p99, kind: latency, percentile: 99, threshold: 250ms}
"""

EMBEDDED = """\
target:
  omsVersion: v2
  replicas: 3
  stores: 2
  shipFromStore: true
  catalog: {skus: 50, locations: 3, seed: 7, minStock: 5, maxStock: 60}
"""

URL_TARGET = """\
target:
  kind: url
  baseUrl: http://127.0.0.1:8080
  truthUrl: http://127.0.0.1:8081
"""

KUBERNETES = """\
platform: {kind: kubernetes, namespace: shop, deployment: oms}
"""


def plan(*sections: str) -> Plan:
    return load_plan_text("apiVersion: peakops/v1\n" + "".join(sections) + REST, "plan.yaml")


@pytest.fixture
def clients() -> Iterator[KubeClients]:
    clients = build_clients(host="http://127.0.0.1:9")  # nothing is sent in these tests
    yield clients
    clients.close()


def test_an_embedded_target_on_the_local_platform_runs_the_reference_oms(tmp_path: Path) -> None:
    built = build_platform(plan(EMBEDDED), tmp_path / "oms", traces_dir=tmp_path / "traces")
    assert isinstance(built, LocalPlatform)
    assert (built.kind, built.current_revision()) == ("local", "v2")


def test_the_oms_config_follows_the_plan_with_fault_proxies(tmp_path: Path) -> None:
    config = oms_config(plan(EMBEDDED).target, traces_dir=tmp_path)
    assert config == OmsConfig(
        version="v2",
        replicas=3,
        skus=50,
        locations=3,
        seed=7,
        min_stock=5,
        max_stock=60,
        traces_dir=tmp_path,
        fault_proxy=True,
        stores=2,
        ship_from_store=True,
    )


def test_a_url_target_on_the_local_platform_is_an_external_target(tmp_path: Path) -> None:
    built = build_platform(plan(URL_TARGET), tmp_path)
    assert isinstance(built, ExternalTarget)
    assert built.endpoints() == Endpoints("http://127.0.0.1:8080", "http://127.0.0.1:8081")


def test_a_url_target_on_kubernetes_is_its_deployment(tmp_path: Path, clients: KubeClients) -> None:
    built = build_platform(plan(URL_TARGET, KUBERNETES), tmp_path, clients=clients)
    assert isinstance(built, KubernetesDeployment)
    assert built.endpoints() == Endpoints("http://127.0.0.1:8080", "http://127.0.0.1:8081")
    assert built.fault_targets() == FaultTargets(kind="kubernetes", namespace="shop")


def test_without_injected_clients_they_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PEAKOPS_KUBECONFIG", raising=False)
    monkeypatch.setenv("PEAKOPS_KUBE_HOST", "http://127.0.0.1:9")
    built = build_platform(plan(URL_TARGET, KUBERNETES), tmp_path)
    assert isinstance(built, KubernetesDeployment)
    built.stop()  # closes the clients it was built with


def test_a_bad_kube_host_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEAKOPS_KUBE_HOST", "127.0.0.1:9")
    with pytest.raises(UsageError, match="must start with http:// or https://"):
        build_platform(plan(URL_TARGET, KUBERNETES), tmp_path)


def test_an_embedded_target_on_kubernetes_is_refused(tmp_path: Path, clients: KubeClients) -> None:
    with pytest.raises(UsageError) as caught:
        build_platform(plan("target: {}\n", KUBERNETES), tmp_path, clients=clients)
    assert str(caught.value) == (
        "platform kubernetes needs target.kind url: peakops reaches the OMS in the cluster by URL"
    )
