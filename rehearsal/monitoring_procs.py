"""Prometheus and Alertmanager as children of the rehearsal, tied to its life.

Started like every other child (``platforms.processes``): the kernel SIGKILLs them when
the rehearsal dies (``PR_SET_PDEATHSIG``, so a SIGKILL of the CLI leaves neither behind),
in a session of their own (Ctrl-C reaches only the CLI, which stops them), output
appended to a log in the run directory. Each gets a free loopback port; a port taken
between the check and the bind is retried with another.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from platforms.processes import die_with_parent_hook, free_port, stop_all

__all__ = ["READY_TIMEOUT_S", "Server", "start_server"]

READY_TIMEOUT_S = 10.0
"""Both answer ``/-/ready`` within ~0.2 s here; 10 s allows for a loaded machine."""

_ATTEMPTS = 3


class Server:
    """One running server: its name, port, log and process."""

    def __init__(self, name: str, port: int, log_path: Path, proc: subprocess.Popen[bytes]):
        self.name = name
        self.port = port
        self.log_path = log_path
        self.proc = proc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def why_not_running(self) -> str:
        """``<name> exited with code N: <last log lines>``."""
        tail = self.log_tail()
        return f"{self.name} exited with code {self.proc.poll()}" + (f": {tail}" if tail else "")

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM, SIGKILL after a grace (both stop in ~20 ms here)."""
        stop_all([self.proc])


def _spawn(argv: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Called from the rehearsal's main thread, which lives as long as the run:
            # the death signal fires when the forking thread ends.
            preexec_fn=die_with_parent_hook(),
        )


def _wait_ready(server: Server, client: httpx.Client, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while server.running and time.monotonic() < deadline:
        try:
            if client.get(f"{server.url}/-/ready").status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.03)
    return False


def start_server(
    name: str, argv_for: Callable[[int], Sequence[str]], log_path: Path, taken: set[int]
) -> Server:
    """Start ``argv_for(port)`` on a free port and wait until ``/-/ready`` answers.

    Raises ``OSError`` (with the log's last lines) when it does not get ready.
    """
    why = "not started"
    with httpx.Client(trust_env=False, timeout=1.0) as client:
        for _ in range(_ATTEMPTS):
            port = free_port(taken)
            server = Server(name, port, log_path, _spawn(argv_for(port), log_path))
            if _wait_ready(server, client, READY_TIMEOUT_S):
                return server
            why = server.why_not_running() if not server.running else "not ready in time"
            server.stop()
            if "address already in use" not in why:
                break
    raise OSError(f"{name} did not start: {why}")
