"""Restart exited children like a Kubernetes ReplicaSet, with exponential backoff.

:func:`tick` is the whole policy as a function of the current time, so tests drive it
with plain numbers; :class:`Supervisor` only calls it every ``poll_s`` from a thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from platforms.processes import join_started

__all__ = ["Backoff", "Child", "Event", "Supervised", "Supervisor", "tick"]

Event = dict[str, object]

_log = logging.getLogger(__name__)


class Child(Protocol):
    """What the supervisor needs to know of a child process."""

    name: str

    @property
    def running(self) -> bool: ...

    @property
    def pid(self) -> int | None: ...

    @property
    def returncode(self) -> int | None: ...


C = TypeVar("C", bound=Child)


@dataclass(frozen=True)
class Backoff:
    """Restart delays: ``initial_s`` doubling to ``cap_s``; reset after ``reset_after_s`` up."""

    initial_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 8.0
    reset_after_s: float = 10.0

    def after(self, delay_s: float) -> float:
        """The delay that follows ``delay_s``."""
        return min(delay_s * self.factor, self.cap_s)


@dataclass
class Supervised(Generic[C]):
    """A child and its restart state. ``managed`` is False while a deploy replaces it."""

    child: C
    version: str
    delay_s: float
    restarts: int = 0
    started_at: float = 0.0
    restart_at: float | None = None
    managed: bool = True
    delays: list[float] = field(default_factory=list)
    """Every restart delay chosen so far, oldest first."""

    def reset(self, now: float, backoff: Backoff) -> None:
        """Forget restart history after a fresh start (a deploy makes a new pod)."""
        self.restarts = 0
        self.started_at = now
        self.restart_at = None
        self.delay_s = backoff.initial_s


def tick(
    units: Sequence[Supervised[C]],
    now: float,
    backoff: Backoff,
    spawn: Callable[[Supervised[C]], None],
) -> list[Event]:
    """Advance every managed unit to ``now``; return the events that happened.

    An exited child is noticed (``replica_exited``, restart scheduled after the current
    delay, which then grows) and restarted once its time has come (``replica_restarted``).
    A child that stayed up ``reset_after_s`` gets the initial delay back.
    """
    events: list[Event] = []
    for unit in units:
        if not unit.managed:
            continue
        name = unit.child.name
        if unit.child.running:
            if now - unit.started_at >= backoff.reset_after_s:
                unit.delay_s = backoff.initial_s
        elif unit.restart_at is None:
            unit.restart_at = now + unit.delay_s
            unit.delays.append(unit.delay_s)
            events.append(
                {
                    "type": "replica_exited",
                    "replica": name,
                    "code": unit.child.returncode,
                    "restart_in_s": unit.delay_s,
                }
            )
            unit.delay_s = backoff.after(unit.delay_s)
        elif now >= unit.restart_at:
            events.append(_restart(unit, now, spawn))
    return events


def _restart(unit: Supervised[C], now: float, spawn: Callable[[Supervised[C]], None]) -> Event:
    unit.restart_at = None
    unit.started_at = now
    try:
        spawn(unit)
    except OSError as err:  # e.g. the interpreter vanished: retry later, like an exit
        return {"type": "replica_restart_failed", "replica": unit.child.name, "error": str(err)}
    unit.restarts += 1
    return {
        "type": "replica_restarted",
        "replica": unit.child.name,
        "restarts": unit.restarts,
        "pid": unit.child.pid,
        "version": unit.version,
    }


class Supervisor(Generic[C]):
    """Calls :func:`tick` every ``poll_s`` real seconds from a daemon thread.

    Ticks run under ``lock`` (shared with the platform); events are emitted after the
    lock is released so a listener may call back into the platform. If a tick or a
    listener raises, supervision stops and the error is kept in :attr:`error`, to be
    raised by the platform's next call: a silent supervisor would hide a dead target.
    """

    def __init__(
        self,
        units: Callable[[], Sequence[Supervised[C]]],
        *,
        lock: threading.RLock,
        clock: Callable[[], float],
        spawn: Callable[[Supervised[C]], None],
        emit: Callable[[Event], None],
        backoff: Backoff,
        poll_s: float = 0.2,
    ) -> None:
        self._units = units
        self._lock = lock
        self._clock = clock
        self._spawn = spawn
        self._emit = emit
        self._backoff = backoff
        self._poll_s = poll_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        """Start the supervising thread."""
        self._thread = threading.Thread(target=self._run, name="peakops-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the supervising thread and wait for it (idempotent)."""
        self._stopping.set()
        join_started(self._thread, timeout_s=10)
        self._thread = None

    def _run(self) -> None:
        while not self._stopping.wait(self._poll_s):
            try:
                with self._lock:
                    events = tick(self._units(), self._clock(), self._backoff, self._spawn)
                for event in events:
                    self._emit(event)
            except Exception as err:
                _log.exception("platform supervisor stopped")
                self.error = err
                return
