"""FaultProxyClient and LeasedFault: loopback only, renewals, and reverts that fail loudly."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from platforms.faultproxy import LOOPBACK, FaultProxy, ProxyThread
from platforms.faultproxy.client import FaultProxyClient, LeasedFault
from platforms.processes import free_port
from slo.errors import InfraError, RevertError, UsageError
from tests.platforms.helpers import ManualClock, wait_until

URL = "http://127.0.0.1:8474"


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    # The upstream is never dialled: these tests only use the control API.
    running = FaultProxy(listen=(LOOPBACK, 0), upstream=(LOOPBACK, 9), control=(LOOPBACK, 0))
    with ProxyThread(running):
        yield running


@pytest.fixture
def clocked() -> Iterator[tuple[FaultProxy, ManualClock]]:
    """A proxy whose leases run on a clock that moves only when the test says."""
    clock = ManualClock()
    running = FaultProxy(
        listen=(LOOPBACK, 0),
        upstream=(LOOPBACK, 9),
        control=(LOOPBACK, 0),
        clock=clock,
        check_interval_s=0.01,
    )
    with ProxyThread(running):
        yield running, clock


def _mock(answer: Callable[[httpx.Request], httpx.Response]) -> FaultProxyClient:
    return FaultProxyClient(URL, transport=httpx.MockTransport(answer))


def _toxics(client: FaultProxyClient) -> list[str]:
    return [t["name"] for t in client.state()["toxics"]]


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.7:8474",
        "http://localhost:8474",
        "https://127.0.0.1:8474",
        "http://127.0.0.1",
        "http://[::1]:8474",
        "http://127.0.0.1.example.com:8474",
    ],
    ids=[
        "a private address",
        "localhost by name",
        "https",
        "no port",
        "ipv6 loopback",
        "a host that merely starts like loopback",
    ],
)
def test_a_control_url_off_127_0_0_1_is_refused_before_anything_is_sent(url: str) -> None:
    with pytest.raises(UsageError, match=r"must be http://127\.0\.0\.1:PORT \(loopback only\)"):
        FaultProxyClient(url)


def test_add_sends_the_toxic_and_returns_the_proxys_answer() -> None:
    sent: list[tuple[str, str, object]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append((request.method, request.url.path, json.loads(request.content)))
        return httpx.Response(201, json={"name": "slow", "expires_in_s": 5.0})

    assert _mock(answer).add("slow", "latency", {"latency_ms": 300}, stream="both") == {
        "name": "slow",
        "expires_in_s": 5.0,
    }
    assert sent == [
        (
            "POST",
            "/toxics",
            {
                "name": "slow",
                "type": "latency",
                "attributes": {"latency_ms": 300},
                "stream": "both",
                "toxicity": 1.0,
                "lease_s": 5.0,
            },
        )
    ]


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (409, UsageError, r"POST /toxics refused: .*already exists"),
        (400, UsageError, r"POST /toxics refused: .*already exists"),
        (500, InfraError, r"POST /toxics answered http 500"),
    ],
    ids=["a name in use", "a toxic the proxy rejects", "a proxy failure"],
)
def test_a_refused_add_raises_with_the_proxys_reason(
    status: int, error: type[Exception], message: str
) -> None:
    client = _mock(lambda _: httpx.Response(status, json={"error": "a toxic already exists"}))
    with pytest.raises(error, match=message):
        client.add("slow", "latency")


def test_an_unreachable_proxy_is_an_infra_error() -> None:
    with (
        FaultProxyClient(f"http://127.0.0.1:{free_port()}", timeout_s=0.5) as client,
        pytest.raises(InfraError, match=r"GET /proxy failed: ConnectError") as caught,
    ):
        client.state()
    assert caught.value.exit_code == 3


def test_remove_and_renew_report_a_toxic_that_is_already_gone(proxy: FaultProxy) -> None:
    with FaultProxyClient(proxy.control_url) as client:
        assert client.remove("ghost") is False
        assert client.renew("ghost", 1) is None
        client.add("real", "latency", lease_s=10)
        assert client.renew("real", 20)["expires_in_s"] > 19  # type: ignore[index]
        assert client.remove("real") is True


def _renewed_just_now(client: FaultProxyClient, lease_s: float) -> bool:
    """Whether the proxy's one toxic was renewed at the proxy clock's current time."""
    return [t["expires_in_s"] for t in client.state()["toxics"]] == [lease_s]


# On the test's clock a lease is only a number: a short one makes the fault renew every
# 10 ms of real time, and the proxy drops it only when the test moves the clock past it.
LEASE_S = 0.03


def test_a_leased_fault_is_renewed_while_held_and_removed_on_exit(
    clocked: tuple[FaultProxy, ManualClock],
) -> None:
    proxy, clock = clocked
    with FaultProxyClient(proxy.control_url) as client:
        with LeasedFault(client, "slow", "latency", {"latency_ms": 1}, lease_s=LEASE_S) as fault:
            for _ in range(5):  # 0.1 s on the proxy's clock: over three times the lease
                wait_until(lambda: _renewed_just_now(client, LEASE_S), poll_s=0.005)
                clock.advance(LEASE_S * 2 / 3)  # short of the lease, so only a renewal keeps it
            wait_until(lambda: _renewed_just_now(client, LEASE_S), poll_s=0.005)
            assert fault.renewals >= 4
            assert _toxics(client) == ["slow"]
        assert _toxics(client) == []
        assert (fault.lapsed, fault.renew_failures) == (False, 0)


def test_a_leased_fault_is_removed_when_the_block_raises(proxy: FaultProxy) -> None:
    with FaultProxyClient(proxy.control_url) as client:
        with (
            pytest.raises(RuntimeError, match="boom"),
            LeasedFault(client, "hole", "timeout", lease_s=5),
        ):
            assert _toxics(client) == ["hole"]
            raise RuntimeError("boom")
        assert _toxics(client) == []


def test_a_fault_whose_lease_lapsed_is_not_put_back(
    clocked: tuple[FaultProxy, ManualClock],
) -> None:
    proxy, _ = clocked  # the clock stands still: a fault put back would stay
    with FaultProxyClient(proxy.control_url) as client:
        with LeasedFault(client, "slow", "latency", lease_s=LEASE_S) as fault:
            client.remove("slow")  # e.g. the proxy restarted, or its lease lapsed
            wait_until(lambda: fault.lapsed, timeout_s=5, poll_s=0.005)
            time.sleep(10 * LEASE_S / 3)  # ten renewal periods
            assert _toxics(client) == []
        assert fault.lapsed


def test_a_failed_add_leaves_nothing_renewing() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            raise httpx.ReadTimeout("no answer", request=request)
        return httpx.Response(204)

    fault = LeasedFault(_mock(answer), "slow", "latency", lease_s=1)
    with pytest.raises(InfraError, match="ReadTimeout"), fault:
        pass
    assert fault.renewals == 0


@pytest.mark.parametrize(
    "answer",
    [
        lambda request: httpx.Response(500, text="disk full"),
        lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused", request=request)),
    ],
    ids=["the proxy fails the delete", "the proxy is unreachable"],
)
def test_a_fault_that_cannot_be_removed_raises_revert_error(
    answer: Callable[[httpx.Request], httpx.Response],
) -> None:
    def route(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return answer(request)
        return httpx.Response(201 if request.url.path == "/toxics" else 200, json={})

    with (
        pytest.raises(RevertError, match=r"could not remove fault 'hole' at .*5s lease") as caught,
        LeasedFault(_mock(route), "hole", "timeout", lease_s=5),
    ):
        pass
    assert caught.value.exit_code == 5
    assert isinstance(caught.value.__cause__, InfraError)


def test_a_lease_must_be_positive() -> None:
    with pytest.raises(UsageError, match="lease_s must be more than 0, got 0"):
        LeasedFault(_mock(lambda _: httpx.Response(201)), "x", "latency", lease_s=0)
