"""One shutdown path for every way a long-running command is stopped.

SIGINT (Ctrl-C), SIGTERM (CI cancelling a job, Kubernetes stopping a pod), SIGHUP (the
terminal went away) and the command's own deadline (SIGALRM) all raise one
``Stopped`` exception in the main thread, so every ``finally`` and ``__exit__`` on the
way out runs: the load is stopped, every active fault is rolled back, the target is
stopped and what was recorded is gated. A second signal while that happens is recorded
and ignored (rolling back must not be cut short); the work it waits on is bounded by
its own timeouts. The process then exits ``128 + signal`` (130 for SIGINT, 143 for
SIGTERM, 129 for SIGHUP), as the shell convention says; a deadline exits with the
verdict's code (inconclusive, 4).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

__all__ = ["STOP_SIGNALS", "StopState", "Stopped", "exit_code_for", "stop_on_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(BaseException):
    """The command was stopped by ``signum`` (SIGALRM: its deadline).

    A ``BaseException``, like ``KeyboardInterrupt``, so no ``except Exception`` on the
    way out swallows it. ``result`` carries whatever the command made of the stop (the
    rehearsal puts its gate result there) for the CLI to show.
    """

    def __init__(self, signum: int, reason: str) -> None:
        super().__init__(reason)
        self.signum = signum
        self.reason = reason
        self.at = time.time()
        self.result: Any = None

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


@dataclass
class StopState:
    """What the handlers saw: the first stop, and the signals that came after it.

    ``hold()`` defers signals from then on (the last steps of a shutdown, such as
    writing the verdict, must not be cut short); ``held()`` gives the first deferred one
    as a ``Stopped``, for the caller to raise once done.
    """

    stopped: Stopped | None = None
    ignored: list[int] = field(default_factory=list)
    holding: bool = False
    deferred: Stopped | None = None

    def hold(self) -> None:
        self.holding = True

    def held(self) -> Stopped | None:
        return self.deferred


def exit_code_for(stop: Stopped, verdict_exit_code: int) -> int:
    """The shell convention for a signal (128 + n); a deadline keeps the verdict's code."""
    if stop.signum == signal.SIGALRM:
        return verdict_exit_code
    return 128 + stop.signum


@contextlib.contextmanager
def stop_on_signals(deadline_s: float | None = None) -> Iterator[StopState]:
    """Turn SIGINT/SIGTERM/SIGHUP (and ``deadline_s`` via SIGALRM) into ``Stopped``.

    Only the first raises; later ones are recorded in ``StopState.ignored``. Outside the
    main thread (a test calling from a worker thread) nothing is installed. The previous
    handlers and timer are restored on exit.
    """
    state = StopState()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        reason = (
            f"its deadline of {deadline_s:g} s passed"
            if signum == signal.SIGALRM
            else f"{signal.Signals(signum).name} received"
        )
        if state.stopped is not None or state.holding:
            state.ignored.append(signum)
            if state.stopped is None and state.deferred is None:
                state.deferred = Stopped(signum, reason)
            return
        state.stopped = Stopped(signum, reason)
        raise state.stopped

    watched = (*STOP_SIGNALS, signal.SIGALRM) if deadline_s else STOP_SIGNALS
    previous = {sig: signal.signal(sig, handle) for sig in watched}
    if deadline_s:
        signal.setitimer(signal.ITIMER_REAL, deadline_s)
    try:
        yield state
    finally:
        if deadline_s:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
