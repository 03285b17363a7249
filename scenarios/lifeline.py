"""Load processes forked by a Locust master die with it (Linux ``PR_SET_PDEATHSIG``).

``locust --processes N`` forks its workers from the master. The CLI starts the master
with a death signal (``platforms.processes``), but a death signal is not inherited
across fork: a master killed with SIGKILL left its workers running, reparented to
init, writing into the run directory for a minute. ``tie_forked_children()``, called
in the master before it forks, has every child forked from then on ask the kernel,
first thing after the fork, for SIGKILL when the master dies, and kill itself at once
if the master already died (between the fork and that request). Elsewhere than Linux
it does nothing.

``scenarios`` may not import ``platforms``: this is its own copy of that small hook.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

__all__ = ["die_with_parent", "tie_forked_children"]

PR_SET_PDEATHSIG = 1

Prctl = Callable[[int, int, int, int, int], int]


def tie_forked_children() -> bool:
    """Make every child this process forks from now on die with it; False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    # Resolved here, in the parent: the child should only call it.
    prctl: Prctl = ctypes.CDLL(None, use_errno=True).prctl
    forking = _Forking()
    # The hooks are inherited: a child that forks in turn ties its own children to it.
    os.register_at_fork(
        before=forking.note, after_in_child=lambda: die_with_parent(forking.pid, prctl)
    )
    return True


class _Forking:
    """The pid of the process about to fork (noted just before each fork)."""

    def __init__(self) -> None:
        self.pid = os.getpid()

    def note(self) -> None:
        self.pid = os.getpid()


def die_with_parent(parent: int, prctl: Prctl) -> None:
    """Ask for SIGKILL when our parent dies; if ``parent`` already has, die now."""
    if prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # reparented: the master died before we asked
        os.kill(os.getpid(), signal.SIGKILL)
