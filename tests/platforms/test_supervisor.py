"""The restart policy as a pure function of time: backoff, reset, hand-offs, failures."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from platforms.supervisor import Backoff, Supervised, tick


@dataclass
class FakeChild:
    name: str = "orders-1"
    running: bool = True
    pid: int | None = 100
    returncode: int | None = None

    def crash(self, code: int = 3) -> None:
        self.running, self.pid, self.returncode = False, None, code


def _unit(child: FakeChild) -> Supervised[FakeChild]:
    return Supervised(child=child, version="v1", delay_s=Backoff().initial_s)


def _spawn(unit: Supervised[FakeChild]) -> None:
    unit.child.running, unit.child.pid, unit.child.returncode = True, 101, None


def _crash_loop(unit: Supervised[FakeChild], start: float, crashes: int) -> float:
    """Crash the child right after every restart; return the time of the last tick."""
    now = start
    for _ in range(crashes):
        unit.child.crash()
        tick([unit], now, Backoff(), _spawn)  # notices the exit
        assert unit.restart_at is not None
        now = unit.restart_at
        tick([unit], now, Backoff(), _spawn)  # restarts
    return now


def test_the_restart_delay_doubles_from_half_a_second_to_eight() -> None:
    unit = _unit(FakeChild())
    _crash_loop(unit, start=0.0, crashes=7)
    assert unit.delays == [0.5, 1, 2, 4, 8, 8, 8]
    assert unit.restarts == 7


def test_the_delay_resets_once_the_child_stayed_up_ten_seconds() -> None:
    unit = _unit(FakeChild())
    now = _crash_loop(unit, start=0.0, crashes=4)
    tick([unit], now + 9.9, Backoff(), _spawn)
    assert unit.delay_s == 8
    tick([unit], now + 10.0, Backoff(), _spawn)
    assert unit.delay_s == 0.5


def test_an_exit_is_reported_once_and_the_restart_waits_for_its_delay() -> None:
    child = FakeChild()
    unit = _unit(child)
    child.crash(code=-9)
    assert tick([unit], 1.0, Backoff(), _spawn) == [
        {"type": "replica_exited", "replica": "orders-1", "code": -9, "restart_in_s": 0.5}
    ]
    assert tick([unit], 1.4, Backoff(), _spawn) == []
    assert tick([unit], 1.5, Backoff(), _spawn) == [
        {
            "type": "replica_restarted",
            "replica": "orders-1",
            "restarts": 1,
            "pid": 101,
            "version": "v1",
        }
    ]
    assert tick([unit], 1.6, Backoff(), _spawn) == []


def test_a_unit_being_deployed_is_left_alone() -> None:
    child = FakeChild()
    unit = _unit(child)
    unit.managed = False
    child.crash()
    assert tick([unit], 5.0, Backoff(), _spawn) == []
    assert unit.restart_at is None


def test_a_restart_that_cannot_spawn_is_reported_and_retried_with_a_longer_delay() -> None:
    child = FakeChild()
    unit = _unit(child)
    child.crash()
    tick([unit], 0.0, Backoff(), _spawn)

    def broken(_: Supervised[FakeChild]) -> None:
        raise FileNotFoundError("no such interpreter")

    events = tick([unit], 0.5, Backoff(), broken)
    assert events == [
        {"type": "replica_restart_failed", "replica": "orders-1", "error": "no such interpreter"}
    ]
    assert tick([unit], 0.5, Backoff(), _spawn)[0]["restart_in_s"] == 1
    assert unit.restarts == 0


@pytest.mark.parametrize(
    ("delay", "expected"),
    [(0.5, 1.0), (4.0, 8.0), (8.0, 8.0)],
    ids=["half a second doubles", "four seconds reach the cap", "the cap stays the cap"],
)
def test_backoff_after(delay: float, expected: float) -> None:
    assert Backoff().after(delay) == expected
