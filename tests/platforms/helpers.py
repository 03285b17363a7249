"""Bounded waiting and process checks shared by the platform tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

import httpx
import psutil

__all__ = [
    "EventRecorder",
    "FastClock",
    "ManualClock",
    "alive",
    "healthz",
    "versions",
    "wait_until",
]

T = TypeVar("T")


def wait_until(check: Callable[[], T | None], timeout_s: float = 10.0, poll_s: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout_s}s: {check}")
        time.sleep(poll_s)


def alive(pids: Iterable[int]) -> list[int]:
    """The pids that still run. Zombies count as dead: PID 1 here may not reap them."""
    running = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.append(pid)
        except psutil.NoSuchProcess:
            pass
    return running


def healthz(origin: str) -> dict[str, object] | None:
    """The JSON of ``origin/healthz`` when it answers 200, else None."""
    try:
        response = httpx.get(f"{origin}/healthz", timeout=1.0, trust_env=False)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def versions(origins: Iterable[str]) -> list[object]:
    """The ``version`` each admin origin reports on ``/healthz`` (None if unhealthy)."""
    return [(healthz(origin) or {}).get("version") for origin in origins]


class EventRecorder:
    """An ``on_event`` listener that keeps every event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[dict[str, object]] = []

    def __call__(self, event: dict[str, object]) -> None:
        with self._lock:
            self._events.append(event)

    def all(self) -> list[dict[str, object]]:
        """Every event so far."""
        with self._lock:
            return list(self._events)

    def of(self, type_: str, replica: str | None = None) -> list[dict[str, object]]:
        """Events of one type (and replica)."""
        return [
            e
            for e in self.all()
            if e["type"] == type_ and (replica is None or e.get("replica") == replica)
        ]


class FastClock:
    """A monotonic clock running ``speed`` times faster than real time."""

    def __init__(self, speed: float) -> None:
        self._speed = speed
        self._start = time.monotonic()

    def __call__(self) -> float:
        return (time.monotonic() - self._start) * self._speed


class ManualClock:
    """A monotonic clock that stands still until the test moves it with :meth:`advance`.

    Safe to read from another thread (a proxy's event loop): a float is swapped whole.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""
        self.now += seconds
