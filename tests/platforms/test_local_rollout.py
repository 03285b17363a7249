"""A rolling deploy or rollback of the real reference OMS under steady load drops nothing.

A few threads send ``GET /healthz`` to the public port at a steady pace (some on kept-
alive connections, some on a new connection per request, which is what exposes the
accept queues) while ``deploy()`` and ``rollback()`` replace every orders replica. Each
request is recorded with when it started and ended and how it ended: ``ok``, ``http``
(an HTTP error status), ``refused`` (nothing listening), ``reset`` (the connection was
closed or reset before an answer) or ``timeout``.

"In flight at the moment of the replacement" is counted per replaced replica: a failed
request that started before the platform signalled the old replica (``replica_draining``)
and ended after it did. Those may fail; everything else must not, with one exception
the kernel makes: a new connection whose handshake completes in the microseconds between
the old replica's last ``accept`` and the ``close`` of its listener is reset (Linux
resets the children queued on a closed SO_REUSEPORT listener unless
``net.ipv4.tcp_migrate_req=1`` moves them to another one; see docs/reference-oms.md).
So a ``reset`` that ended within ``LISTENER_CLOSE_S`` of a signal is counted apart, at
most one per replaced replica (seen once in ~10 CI runs: 1 of ~1,700 requests).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from platforms.local import LocalPlatform, OmsConfig
from tests.platforms.conftest import REPO

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (REPO / "reference_oms" / "__main__.py").exists(),
        reason="reference_oms/__main__.py does not exist yet",
    ),
]

LISTENER_CLOSE_S = 0.5
"""After ``replica_draining``, by when the old replica has drained and closed its listener."""
THREADS = 6
RATE_PER_THREAD = 50.0  # 300 req/s in all
OK = "ok"


@dataclass(frozen=True)
class Outcome:
    started: float
    ended: float
    kind: str
    detail: str = ""


def _kind(err: httpx.HTTPError) -> str:
    if isinstance(err, httpx.TimeoutException):
        return "timeout"
    if isinstance(err, httpx.ConnectError):
        return "refused"
    return "reset"  # ReadError, WriteError, RemoteProtocolError: closed before an answer


@dataclass
class SteadyLoad:
    """``THREADS`` threads each sending ``RATE_PER_THREAD`` requests a second to ``url``;
    even threads keep connections alive, odd ones open one per request."""

    url: str
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> SteadyLoad:
        for n in range(THREADS):
            thread = threading.Thread(target=self._run, args=(n % 2 == 0,), daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _run(self, keep_alive: bool) -> None:
        limits = httpx.Limits(max_keepalive_connections=1 if keep_alive else 0)
        headers = {} if keep_alive else {"Connection": "close"}
        period = 1 / RATE_PER_THREAD
        with httpx.Client(trust_env=False, timeout=5.0, limits=limits, headers=headers) as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response = client.get(self.url)
                except httpx.HTTPError as err:
                    outcome = Outcome(started, time.monotonic(), _kind(err), repr(err))
                else:
                    kind = OK if response.status_code == 200 else "http"
                    outcome = Outcome(started, time.monotonic(), kind, str(response.status_code))
                with self._lock:
                    self.outcomes.append(outcome)
                next_at = max(next_at + period, time.monotonic() - period)
                self._stop.wait(max(0.0, next_at - time.monotonic()))


@dataclass
class Timeline:
    """Platform events with the monotonic time they were received."""

    events: list[tuple[float, dict[str, object]]] = field(default_factory=list)

    def __call__(self, event: dict[str, object]) -> None:
        self.events.append((time.monotonic(), dict(event)))

    def times(self, kind: str) -> list[float]:
        return [at for at, event in self.events if event["type"] == kind]


def in_flight(outcome: Outcome, stops: list[float]) -> bool:
    """Whether ``outcome`` was under way when one of the old replicas was stopped."""
    return any(outcome.started <= at <= outcome.ended for at in stops)


def at_listener_close(outcome: Outcome, stops: list[float]) -> bool:
    """A reset that ended just after an old replica was signalled (see the docstring)."""
    return outcome.kind == "reset" and any(
        at <= outcome.ended <= at + LISTENER_CLOSE_S for at in stops
    )


def tally(outcomes: list[Outcome], stops: list[float]) -> Counter[str]:
    """Counts by kind; failures in flight at a stop are counted as ``<kind>_in_flight``."""
    counts: Counter[str] = Counter()
    for outcome in outcomes:
        if outcome.kind != OK and in_flight(outcome, stops):
            counts[f"{outcome.kind}_in_flight"] += 1
        else:
            counts[outcome.kind] += 1
    return counts


def test_a_rolling_deploy_and_rollback_under_load_fail_nothing_but_what_was_in_flight(
    tmp_path: Path,
) -> None:
    timeline = Timeline()
    config = OmsConfig(replicas=2, skus=20)
    platform = LocalPlatform(config, tmp_path, on_event=timeline)
    with platform, SteadyLoad(f"{platform.base_url}/healthz") as load:
        time.sleep(1.0)
        platform.deploy("v2")
        time.sleep(1.0)
        assert platform.rollback() == "v1"
        time.sleep(1.0)
    stops = timeline.times("replica_draining")
    counts = tally(load.outcomes, stops)
    print(f"\nrolling replace under load: {dict(sorted(counts.items()))}")
    failed = [o for o in load.outcomes if o.kind != OK and not in_flight(o, stops)]
    closing = [o for o in failed if at_listener_close(o, stops)]
    assert len(stops) == 4, timeline.events
    assert counts[OK] > 0
    assert [o for o in failed if o not in closing] == []
    assert len(closing) <= len(stops), closing
