"""Every platform is a ``Platform``, and what each one does with the protocol's calls.

The table runs without processes or a cluster: LocalPlatform is not started, and the
KubernetesDeployment's clients point at a closed port (the calls in the table send
nothing). The calls that do run something are tested in test_local.py,
test_external.py and test_kubernetes_deployment.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from platforms import FaultTargets, LocalPlatform, OmsConfig, Platform
from platforms.base import Endpoints
from platforms.external import ExternalTarget
from platforms.kubernetes import build_clients
from platforms.kubernetes_deployment import KubernetesDeployment
from slo.errors import InfraError, UsageError

URL = "http://127.0.0.1:9"

Make = Callable[[str], Platform]


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Make]:
    clients = build_clients(host=URL)

    def build(kind: str) -> Platform:
        if kind == "local":
            return LocalPlatform(OmsConfig(version="v7"), tmp_path)
        if kind == "url":
            return ExternalTarget(URL)
        return KubernetesDeployment(clients, "shop", "oms", Endpoints(URL))

    yield build
    clients.close()


@pytest.mark.parametrize("kind", ["local", "url", "kubernetes"])
def test_each_platform_satisfies_the_protocol_and_says_its_kind(make: Make, kind: str) -> None:
    platform = make(kind)
    assert isinstance(platform, Platform)
    assert platform.kind == kind


@pytest.mark.parametrize(
    ("kind", "call", "expected"),
    [
        ("local", lambda p: p.current_revision(), "v7"),
        ("local", lambda p: p.revisions(), ["v7"]),
        ("local", lambda p: p.health().ok, False),
        ("local", lambda p: p.health().detail, "local platform is new, not running"),
        ("local", lambda p: p.reap_faults(), []),
        ("url", lambda p: p.current_revision(), None),
        ("url", lambda p: p.revisions(), []),
        ("url", lambda p: p.endpoints(), Endpoints(URL)),
        ("url", lambda p: p.fault_targets(), FaultTargets(kind="url")),
        ("url", lambda p: p.reap_faults(), []),
        ("kubernetes", lambda p: p.endpoints(), Endpoints(URL)),
        ("kubernetes", lambda p: p.fault_targets(), FaultTargets("kubernetes", namespace="shop")),
        ("kubernetes", lambda p: p.stop(), None),
    ],
    ids=[
        "local: the configured version is the current revision before start",
        "local: the history starts with that version",
        "local: a platform not started is not healthy",
        "local: and its health says why",
        "local: nothing to reap before start (no fault proxies yet)",
        "url: the revision of an OMS peakops does not run is unknown",
        "url: it has no revision history",
        "url: its endpoints are the plan's URLs",
        "url: it offers no fault targets",
        "url: it has no faults to reap",
        "kubernetes: its endpoints are the plan's URLs",
        "kubernetes: faults target its namespace",
        "kubernetes: stop sends nothing and leaves the deployment alone",
    ],
)
def test_what_each_platform_answers(
    make: Make, kind: str, call: Callable[[Platform], object], expected: object
) -> None:
    assert call(make(kind)) == expected


@pytest.mark.parametrize(
    ("kind", "call", "error"),
    [
        ("local", lambda p: p.endpoints(), InfraError),
        ("local", lambda p: p.fault_targets(), InfraError),
        ("url", lambda p: p.deploy("v2"), UsageError),
        ("url", lambda p: p.rollback(), UsageError),
    ],
    ids=[
        "local: no endpoints before start",
        "local: no fault targets before start",
        "url: deploy is refused",
        "url: rollback is refused",
    ],
)
def test_what_each_platform_refuses(
    make: Make, kind: str, call: Callable[[Platform], object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        call(make(kind))
