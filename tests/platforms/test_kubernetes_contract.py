"""Contract tests: the exact API calls, and the answers kmock cannot give.

A recording fake replaces the REST layer under the real client built by
``build_clients``: requests are serialised and responses deserialised by the official
client, only the network is gone. Every answer is scripted per test; a request nobody
scripted fails the test, so "and nothing else" is part of every assertion.
"""

from __future__ import annotations

import json
import random
import socket
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes.client import rest

from platforms.blast_radius import BlastRadius
from platforms.kubernetes import KubeClients, KubernetesPlatform, build_clients
from platforms.kubernetes_leases import EXPIRES_AT, MANAGED_BY
from slo.errors import InfraError, RevertError, UsageError
from slo.exitcodes import ExitCode

RADIUS = BlastRadius(allowed_namespaces=("shop", "cart"), max_targets=3, max_percent=100)
NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
PODS = "/api/v1/namespaces/shop/pods"
POLICIES = "/apis/networking.k8s.io/v1/namespaces/{}/networkpolicies"
TOKEN = "s3cr3t-t0ken"


@dataclass(frozen=True)
class Sent:
    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    body: Any
    timeout: Any


Answer = tuple[int, Any]


class RecordingRest:
    """Stands in for ``rest.RESTClientObject``: records requests, plays scripted answers."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.headers: list[dict[str, str]] = []
        self._answers: dict[tuple[str, str], list[Answer]] = {}

    def answer(self, method: str, path: str, *answers: Answer) -> None:
        """Queue answers for ``method path``; the last one repeats."""
        self._answers.setdefault((method, path), []).extend(answers)

    def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        body: Any = None,
        post_params: Any = None,
        _request_timeout: Any = None,
    ) -> rest.RESTResponse:
        parsed = urllib.parse.urlsplit(url)
        headers = dict(headers or {})
        query = dict(urllib.parse.parse_qsl(parsed.query))
        self.sent.append(
            Sent(method, parsed.path, query, headers.get("Content-Type"), body, _request_timeout)
        )
        self.headers.append(headers)
        queued = self._answers.get((method, parsed.path))
        if not queued:
            raise AssertionError(f"unexpected request {method} {parsed.path}")
        status, payload = queued.pop(0) if len(queued) > 1 else queued[0]
        response = urllib3.HTTPResponse(
            body=json.dumps(payload).encode(),
            status=status,
            reason={200: "OK", 404: "Not Found", 409: "Conflict"}.get(status, "Error"),
            headers={"Content-Type": "application/json"},
            preload_content=True,
        )
        return rest.RESTResponse(response)

    def close(self) -> None:
        pass

    def calls(self) -> list[tuple[str, str]]:
        return [(sent.method, sent.path) for sent in self.sent]


@pytest.fixture
def fake() -> RecordingRest:
    return RecordingRest()


@pytest.fixture
def clients(fake: RecordingRest) -> Iterator[KubeClients]:
    clients = build_clients(host="http://127.0.0.1:9")  # nothing is ever sent there
    clients.api_client.rest_client = fake  # type: ignore[assignment]
    yield clients
    clients.close()


@pytest.fixture
def platform(clients: KubeClients) -> KubernetesPlatform:
    return KubernetesPlatform(clients, RADIUS, clock=lambda: NOW, request_timeout_s=7.5)


def status(code: int, message: str) -> Answer:
    return code, {"kind": "Status", "apiVersion": "v1", "code": code, "message": message}


def pod(name: str, app: str = "orders", **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": f"uid-{name}", "labels": {"app": app}, **meta}}


def pod_list(*items: dict[str, Any]) -> Answer:
    return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": list(items)}


def delete_body(name: str) -> dict[str, Any]:
    return {"gracePeriodSeconds": 0, "preconditions": {"uid": f"uid-{name}"}}


# ------------------------------------------------------------------ pod kills


def test_kill_pods_lists_by_selector_then_deletes_only_the_chosen_with_grace_0(
    fake: RecordingRest, platform: KubernetesPlatform
) -> None:
    fake.answer(
        "GET",
        PODS,
        pod_list(
            pod("orders-0"),
            pod("orders-1"),
            pod("orders-2", deletionTimestamp="2023-11-14T22:13:00Z"),  # already going
            pod("db-0", app="db"),  # the server ignored the selector
        ),
    )
    for name in ("orders-0", "orders-1"):
        fake.answer("DELETE", f"{PODS}/{name}", (200, pod(name)))

    killed = platform.kill_pods("shop", "app=orders", count=2, rng=random.Random(0))

    assert killed == ["orders-0", "orders-1"]
    assert fake.sent == [
        Sent("GET", PODS, {"labelSelector": "app=orders"}, None, None, 7.5),
        *(
            Sent(
                "DELETE",
                f"{PODS}/{name}",
                {"gracePeriodSeconds": "0"},
                None,
                delete_body(name),
                7.5,
            )
            for name in killed
        ),
    ]


def test_a_dry_run_only_lists(fake: RecordingRest, platform: KubernetesPlatform) -> None:
    fake.answer("GET", PODS, pod_list(pod("orders-0"), pod("orders-1")))
    assert platform.kill_pods("shop", "app=orders", count=1, rng=random.Random(0), dry_run=True)
    assert fake.calls() == [("GET", PODS)]


def test_a_pod_that_vanished_or_was_replaced_meanwhile_is_skipped(
    fake: RecordingRest, platform: KubernetesPlatform
) -> None:
    fake.answer("GET", PODS, pod_list(pod("a"), pod("b"), pod("c")))
    fake.answer("DELETE", f"{PODS}/a", status(404, 'pods "a" not found'))
    fake.answer("DELETE", f"{PODS}/b", status(409, "Precondition failed: UID in precondition"))
    fake.answer("DELETE", f"{PODS}/c", (200, pod("c")))
    assert platform.kill_pods("shop", "app=orders", percent=100, rng=random.Random(0)) == ["c"]


def test_a_failed_delete_is_an_infra_error_naming_what_was_already_deleted(
    fake: RecordingRest, platform: KubernetesPlatform
) -> None:
    fake.answer("GET", PODS, pod_list(pod("a"), pod("b")))
    fake.answer("DELETE", f"{PODS}/a", (200, pod("a")))
    fake.answer("DELETE", f"{PODS}/b", status(500, "etcdserver: request timed out"))
    with pytest.raises(InfraError) as caught:
        platform.kill_pods("shop", "app=orders", count=2, rng=random.Random(0))
    message = str(caught.value)
    assert caught.value.exit_code == ExitCode.INFRA
    assert "deleting pod shop/b: http 500" in message
    assert "etcdserver: request timed out" in message
    assert "deleted before the error: a" in message


def test_zone_loss_deletes_by_zone_label_only(
    fake: RecordingRest, platform: KubernetesPlatform
) -> None:
    zone = "topology.kubernetes.io/zone"
    east = pod("east-0")
    east["metadata"]["labels"][zone] = "east"
    west = pod("west-0")
    west["metadata"]["labels"][zone] = "west"
    fake.answer("GET", PODS, pod_list(east, west, pod("nozone-0")))
    fake.answer("DELETE", f"{PODS}/east-0", (200, east))
    assert platform.zone_loss("shop", "app=orders", "east") == ["east-0"]
    assert fake.calls() == [("GET", PODS), ("DELETE", f"{PODS}/east-0")]
    assert fake.sent[1].body == delete_body("east-0")


# ------------------------------------------------------------------- network

POLICY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {
        "name": "peakops-cut",
        "labels": {MANAGED_BY: "peakops"},
        "annotations": {EXPIRES_AT: "2023-11-14T22:13:50Z"},
    },
    "spec": {
        "podSelector": {"matchLabels": {"app": "orders"}},
        "policyTypes": ["Ingress", "Egress"],
    },
}


def stored(policy: dict[str, Any], uid: str = "uid-1") -> dict[str, Any]:
    return {**policy, "metadata": {**policy["metadata"], "uid": uid}}


def test_cut_network_posts_exactly_the_deny_all_policy(
    fake: RecordingRest, platform: KubernetesPlatform
) -> None:
    fake.answer("GET", PODS, pod_list(pod("orders-0")))
    fake.answer("POST", POLICIES.format("shop"), (201, stored(POLICY)))
    assert platform.cut_network("shop", "app=orders", name="cut", lease_s=30) == "peakops-cut"
    assert fake.sent[1] == Sent("POST", POLICIES.format("shop"), {}, None, POLICY, 7.5)


def test_renew_reads_then_merge_patches_only_the_expiry(
    fake: RecordingRest, platform: KubernetesPlatform
) -> None:
    path = POLICIES.format("shop") + "/peakops-cut"
    fake.answer("GET", path, (200, stored(POLICY)))
    fake.answer("PATCH", path, (200, stored(POLICY)))
    assert platform.renew("shop", "cut", 60) == "2023-11-14T22:14:20Z"
    patch = {"metadata": {"annotations": {EXPIRES_AT: "2023-11-14T22:14:20Z"}}}
    assert fake.sent == [
        Sent("GET", path, {}, None, None, 7.5),
        Sent("PATCH", path, {}, "application/merge-patch+json", patch, 7.5),
    ]


@pytest.mark.parametrize(
    ("get", "delete", "healed", "calls"),
    [
        pytest.param((200, stored(POLICY)), (200, {}), True, ["GET", "DELETE"],
                     id="a present policy is deleted"),
        pytest.param(status(404, "gone"), None, False, ["GET"],
                     id="an absent policy is already healed"),
        pytest.param((200, stored(POLICY)), status(404, "gone"), False, ["GET", "DELETE"],
                     id="a policy reaped between read and delete is already healed"),
    ],
)  # fmt: skip
def test_heal_deletes_with_the_uid_as_precondition_and_404_is_fine(
    fake: RecordingRest,
    platform: KubernetesPlatform,
    get: Answer,
    delete: Answer | None,
    healed: bool,
    calls: list[str],
) -> None:
    path = POLICIES.format("shop") + "/peakops-cut"
    fake.answer("GET", path, get)
    if delete is not None:
        fake.answer("DELETE", path, delete)
    assert platform.heal("shop", "cut") is healed
    assert [sent.method for sent in fake.sent] == calls
    if delete is not None:
        assert fake.sent[1].body == {"preconditions": {"uid": "uid-1"}}


@pytest.mark.parametrize(
    ("get", "delete", "fragment"),
    [
        pytest.param(status(500, "boom"), None, "reading networkpolicy shop/peakops-cut: http 500",
                     id="the policy cannot be read"),
        pytest.param((200, stored(POLICY)), status(500, "boom"), "deleting networkpolicy",
                     id="the delete fails"),
        pytest.param((200, stored(POLICY)), status(409, "uid mismatch"), "http 409",
                     id="another policy took the name meanwhile"),
        pytest.param(
            (200, {**POLICY, "metadata": {"name": "peakops-cut", "labels": {}}}), None,
            "not managed by peakops", id="a same-named policy that peakops does not manage",
        ),
    ],
)  # fmt: skip
def test_a_heal_that_cannot_complete_is_a_revert_error(
    fake: RecordingRest,
    platform: KubernetesPlatform,
    get: Answer,
    delete: Answer | None,
    fragment: str,
) -> None:
    path = POLICIES.format("shop") + "/peakops-cut"
    fake.answer("GET", path, get)
    if delete is not None:
        fake.answer("DELETE", path, delete)
    with pytest.raises(RevertError, match=fragment) as caught:
        platform.heal("shop", "cut")
    assert caught.value.exit_code == ExitCode.REVERT_FAILED


def policy_list(*items: dict[str, Any]) -> Answer:
    return 200, {"kind": "NetworkPolicyList", "apiVersion": "networking.k8s.io/v1",
                 "metadata": {}, "items": list(items)}  # fmt: skip


def expired(name: str, uid: str) -> dict[str, Any]:
    policy = stored(POLICY, uid)
    policy["metadata"] = {**policy["metadata"], "name": name}
    policy["metadata"]["annotations"] = {EXPIRES_AT: "2023-11-14T22:00:00Z"}
    return policy


def test_reap_lists_by_the_managed_label_and_deletes_with_uid_preconditions(
    fake: RecordingRest, platform: KubernetesPlatform
) -> None:
    listing = POLICIES.format("shop")
    fake.answer("GET", listing, policy_list(expired("peakops-a", "u-a"), stored(POLICY)))
    fake.answer("DELETE", f"{listing}/peakops-a", (200, {}))
    assert platform.reap(["shop"]) == ["shop/peakops-a"]
    selector = {"labelSelector": f"{MANAGED_BY}=peakops"}
    assert fake.sent == [
        Sent("GET", listing, selector, None, None, 7.5),
        Sent(
            "DELETE",
            f"{listing}/peakops-a",
            {},
            None,
            {"preconditions": {"uid": "u-a"}},
            7.5,
        ),
    ]


def test_reap_skips_a_policy_replaced_or_removed_meanwhile(
    fake: RecordingRest, platform: KubernetesPlatform
) -> None:
    listing = POLICIES.format("shop")
    fake.answer("GET", listing, policy_list(expired("peakops-a", "1"), expired("peakops-b", "2")))
    fake.answer("DELETE", f"{listing}/peakops-a", status(409, "Precondition failed: UID"))
    fake.answer("DELETE", f"{listing}/peakops-b", status(404, "gone"))
    assert platform.reap(["shop"]) == []


def test_reap_sweeps_every_namespace_then_reports_the_ones_that_failed(
    fake: RecordingRest, platform: KubernetesPlatform
) -> None:
    fake.answer("GET", POLICIES.format("shop"), status(403, "forbidden: cannot list"))
    fake.answer("GET", POLICIES.format("cart"), policy_list(expired("peakops-a", "1")))
    fake.answer("DELETE", POLICIES.format("cart") + "/peakops-a", (200, {}))
    with pytest.raises(RevertError) as caught:
        platform.reap(["shop", "cart"])
    message = str(caught.value)
    assert "listing networkpolicies in 'shop': http 403" in message
    assert "docs/kubernetes.md" in message
    assert "removed: cart/peakops-a" in message
    assert fake.calls()[-1] == ("DELETE", POLICIES.format("cart") + "/peakops-a")


# ------------------------------------------------------- clients and secrets


def write_kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "prod",
        "clusters": [
            {"name": "prod", "cluster": {"server": "https://prod.invalid:6443"}},
            {"name": "rehearsal", "cluster": {"server": server}},
        ],
        "users": [{"name": "sre", "user": {"token": TOKEN}}],
        "contexts": [
            {"name": "prod", "context": {"cluster": "prod", "user": "sre"}},
            {"name": "rehearsal", "context": {"cluster": "rehearsal", "user": "sre"}},
        ],
    }
    path.write_text(json.dumps(config))
    return path


def test_a_kubeconfig_context_is_honoured_and_its_token_never_reaches_a_message(
    tmp_path: Path, fake: RecordingRest
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "config", "http://127.0.0.1:9")
    clients = build_clients(str(kubeconfig), context="rehearsal")
    clients.api_client.rest_client = fake  # type: ignore[assignment]
    fake.answer("GET", PODS, status(403, 'pods is forbidden: User "sre" cannot list pods'))
    platform = KubernetesPlatform(clients, RADIUS)
    try:
        with pytest.raises(InfraError) as caught:
            platform.kill_pods("shop", "app=orders", count=1, rng=random.Random(0))
    finally:
        clients.close()
    assert clients.host == "http://127.0.0.1:9"
    sent_headers = {key.lower(): value for key, value in fake.headers[0].items()}
    assert sent_headers["authorization"] == f"Bearer {TOKEN}"
    message = str(caught.value)
    assert "cannot list pods (check peakops' RBAC: docs/kubernetes.md)" in message
    assert TOKEN not in message
    assert TOKEN not in repr(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        pytest.param({"host": "http://127.0.0.1:1", "context": "x"}, "not both",
                     id="a host and a context"),
        pytest.param({"host": "127.0.0.1:6443"}, "must start with http",
                     id="a host without scheme"),
        pytest.param({"kubeconfig": "/nonexistent/kubeconfig"}, "cannot load kubeconfig",
                     id="a kubeconfig that does not exist"),
    ],
)  # fmt: skip
def test_bad_client_settings_are_usage_errors(kwargs: dict[str, str], fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        build_clients(**kwargs)


def test_an_unknown_context_is_a_usage_error(tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "config", "http://127.0.0.1:9")
    with pytest.raises(UsageError, match="cannot load kubeconfig") as caught:
        build_clients(str(kubeconfig), context="staging")
    assert TOKEN not in str(caught.value)


def test_inside_a_pod_without_a_kubeconfig_the_service_account_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    # No service-account token is mounted here, so loading fails, as a usage error.
    with pytest.raises(UsageError, match="cannot load the pod's service account"):
        build_clients()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("act", "error"),
    [
        pytest.param(lambda p: p.pods("shop", "app=orders"), InfraError, id="listing pods"),
        pytest.param(lambda p: p.heal("shop", "cut"), RevertError, id="healing"),
        pytest.param(lambda p: p.reap(["shop"]), RevertError, id="reaping"),
    ],
)
def test_an_unreachable_api_server_is_infra_for_faults_and_revert_for_reverts(
    act: Callable[[KubernetesPlatform], object], error: type[Exception]
) -> None:
    clients = build_clients(host=f"http://127.0.0.1:{closed_port()}")
    platform = KubernetesPlatform(clients, RADIUS, request_timeout_s=2)
    try:
        with pytest.raises(
            error, match=r"no answer from the kubernetes api at http://127\.0\.0\.1"
        ):
            act(platform)
    finally:
        clients.close()
