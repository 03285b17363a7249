"""Child processes of the local platform: spawn them tied to our life, probe, tail, stop.

Every child gets ``PR_SET_PDEATHSIG=SIGKILL`` (Linux ``prctl``) in a ``preexec_fn``, so
the kernel kills it when we die, even by SIGKILL, where no ``atexit`` hook or
``finally`` runs. A load test killed mid-run must not leave an OMS listening on ports the
next run wants, nor an orphan writing to SQLite. The signal fires when the *thread* that
forked the child ends, not the process, so all children are forked by one long-lived
:class:`Spawner` thread rather than by whichever thread called ``deploy()``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

__all__ = [
    "STOP_GRACE_S",
    "ChildProcess",
    "Spawner",
    "die_with_parent_hook",
    "free_port",
    "stop_all",
    "wait_healthy",
]

STOP_GRACE_S = 5.0
"""Real seconds a child gets between SIGTERM and SIGKILL."""

_PR_SET_PDEATHSIG = 1
# SIGKILL, not SIGTERM: once the parent is gone nobody waits for a graceful shutdown,
# and one was seen to take over 10 s on a loaded machine (open streams between the
# dying processes). The OMS keeps its state in SQLite WAL, which survives a kill; faults
# lapse by their leases.
_ON_PARENT_DEATH = signal.SIGKILL
_LOOPBACK = "127.0.0.1"

_Popen = subprocess.Popen[bytes]


def free_port(taken: set[int] | None = None) -> int:
    """Return a TCP port that is free on 127.0.0.1 now and not in ``taken`` (then add it)."""
    taken = set() if taken is None else taken
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((_LOOPBACK, 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            taken.add(port)
            return port
    raise OSError("no free tcp port found on 127.0.0.1")


def join_started(thread: threading.Thread | None, timeout_s: float) -> None:
    """Wait for ``thread`` to end, at most ``timeout_s``, if it ever started and is not
    the caller. A signal can cut ``Thread.start`` short (a rehearsal stopped as its
    target starts): joining a thread that never started raises ``RuntimeError``."""
    if thread is not None and thread.is_alive() and thread is not threading.current_thread():
        thread.join(timeout=timeout_s)


def die_with_parent_hook() -> Callable[[], None] | None:
    """Return a ``preexec_fn`` that makes the kernel kill the child when we die (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    # Resolved in the parent: the forked child should only call, not load libraries.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent_pid = os.getpid()

    def preexec() -> None:
        if prctl(_PR_SET_PDEATHSIG, int(_ON_PARENT_DEATH), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent_pid:  # we died between fork and prctl
            os.kill(os.getpid(), _ON_PARENT_DEATH)

    return preexec


class Spawner:
    """Forks every child from one daemon thread that lives until :meth:`close`.

    A daemon thread (not a ``ThreadPoolExecutor`` worker) because executors join their
    workers at interpreter exit before ``atexit`` hooks run, which would SIGTERM the
    children under a still-running supervisor.
    """

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], _Popen], Future[_Popen]] | None]
        self._jobs = queue.Queue()
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> None:
        """Start the spawning thread."""
        self._thread = threading.Thread(target=self._run, name="peakops-spawner", daemon=True)
        self._thread.start()

    def popen(self, argv: Sequence[str], log: IO[bytes]) -> _Popen:
        """Start ``argv`` with stdout and stderr to ``log``, tied to this process's life."""
        if self._thread is None or self._closed:
            raise RuntimeError("spawner is not running")
        preexec = die_with_parent_hook()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}

        def launch() -> _Popen:
            # start_new_session: Ctrl-C in a terminal reaches only us; we stop the children.
            return subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                # preexec only calls prctl/getppid: no lock another thread could hold at fork
                preexec_fn=preexec,
            )

        future: Future[_Popen] = Future()
        self._jobs.put((launch, future))
        return future.result()

    def close(self) -> None:
        """Stop the spawning thread (idempotent)."""
        self._closed = True
        thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)  # a thread still starting stops at it
            join_started(thread, timeout_s=5)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            launch, future = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(launch())
                except Exception as err:  # handed to the caller, which raises it
                    future.set_exception(err)


@dataclass
class ChildProcess:
    """One supervised child: its command line, log file and port, and its process.

    ``port`` is where it answers ``GET /healthz`` on 127.0.0.1 (an admin port for orders).
    """

    name: str
    argv: list[str]
    log_path: Path
    port: int
    proc: _Popen | None = None
    log_offset: int = 0

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{_LOOPBACK}:{self.port}"

    @property
    def health_url(self) -> str:
        """The URL that answers 200 once the child is ready."""
        return f"{self.origin}/healthz"

    @property
    def running(self) -> bool:
        """Whether the process exists and has not exited."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The pid while running, else None."""
        return self.proc.pid if self.proc is not None and self.running else None

    @property
    def returncode(self) -> int | None:
        """Exit code of the last process (negative: killed by that signal)."""
        return None if self.proc is None else self.proc.poll()

    def spawn(self, spawner: Spawner) -> None:
        """Start the process, appending its output to the log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.log_offset = log.tell()
            log.write(f"--- peakops: starting {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.proc = spawner.popen(self.argv, log)

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` if the process is running."""
        if self.proc is not None and self.running:
            self.proc.send_signal(sig)

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines the current (or last) process wrote."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self.log_offset)
                text = log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def stop_all(procs: Sequence[_Popen], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every process, wait up to ``grace_s`` real seconds in all, then SIGKILL."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
    deadline = time.monotonic() + grace_s
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace_s)


def wait_healthy(
    child: ChildProcess,
    timeout_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    poll_s: float = 0.05,
) -> str | None:
    """Poll the child's health URL (always on 127.0.0.1) until it answers 200.

    Returns None once healthy, else why not (exited, or still unhealthy at the deadline);
    returns as soon as the process exits rather than waiting out the timeout.
    """
    deadline = clock() + timeout_s
    last = "no answer yet"
    with httpx.Client(trust_env=False, timeout=httpx.Timeout(1.0)) as client:
        while True:
            if not child.running:
                return f"exited with code {child.returncode}"
            try:
                status = client.get(child.health_url).status_code
            except httpx.HTTPError as err:
                last = f"{type(err).__name__}: {err}"
            else:
                if status == 200:
                    return None
                last = f"http {status}"
            if clock() >= deadline:
                return f"still not healthy (last: {last})"
            time.sleep(poll_s)
