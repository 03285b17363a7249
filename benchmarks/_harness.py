"""What the benchmark drivers share: child processes tied to our life, Locust runs, stats.

The drivers never import Locust (it monkey-patches the process): every load runs in a
child ``python -m locust`` started from the repository root. Children get SIGTERM if
the driver dies (``die_with_parent_hook``), are stopped on Ctrl-C, SIGTERM or an
exception, and every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from platforms.processes import die_with_parent_hook, free_port  # noqa: E402

__all__ = [
    "BENCH_LOCUSTFILE",
    "ROOT",
    "ListeningServer",
    "LocustStats",
    "free_port",
    "locust_command",
    "locust_percentile",
    "run_bounded",
    "sigterm_raises",
    "spawn",
    "stop",
    "tail",
    "wait_for",
]

BENCH_LOCUSTFILE = Path(__file__).resolve().parent / "bench_locustfile.py"
STOP_GRACE_S = 10.0


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C, so ``finally`` blocks stop the children."""

    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def spawn(command: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start a child that gets SIGTERM when this process dies (even by SIGKILL)."""
    return subprocess.Popen(list(command), preexec_fn=die_with_parent_hook(), **kwargs)


def stop(child: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop ``child``: ``sig``, then SIGKILL after a grace period; always reaped."""
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(sig)
        try:
            child.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def run_bounded(command: Sequence[str], *, timeout_s: float, log: Path, cwd: Path = ROOT) -> int:
    """Run ``command`` to completion (output to ``log``); stopped if it overruns."""
    with log.open("ab") as out:
        child = spawn(command, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        try:
            return child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{command[0]} overran its {timeout_s:.0f} s; see {log}") from None
        finally:
            stop(child)


def locust_command(
    host: str, user_class: str, *, users: int, seconds: float, json_base: Path,
    extra: Sequence[str] = (),
) -> list[str]:  # fmt: skip
    """Headless Locust on the benchmark locustfile; stats go to ``json_base``.json."""
    return [
        sys.executable, "-m", "locust", "-f", str(BENCH_LOCUSTFILE), "--headless",
        "-u", str(users), "-r", str(users), "-t", f"{seconds:g}s", "--host", host,
        "--json-file", str(json_base), "--only-summary", "--loglevel", "WARNING",
        "--exit-code-on-error", "0", *extra, user_class,
    ]  # fmt: skip


def locust_percentile(response_times: dict[int, int], total: int, percent: float) -> float:
    """Locust's own percentile rule over its rounded response-time counts (ms)."""
    wanted = int(total * percent)
    seen = 0
    for value in sorted(response_times, reverse=True):
        seen += response_times[value]
        if total - seen <= wanted:
            return float(value)
    return 0.0


@dataclass(frozen=True)
class LocustStats:
    """A Locust ``--json-file`` report, all entries merged."""

    requests: int
    failures: int
    first_request: float
    last_request: float
    response_times: dict[int, int]

    @property
    def ok(self) -> int:
        return self.requests - self.failures

    @property
    def seconds(self) -> float:
        return max(self.last_request - self.first_request, 1e-9)

    def percentile(self, percent: float) -> float:
        return locust_percentile(self.response_times, self.requests, percent)

    @classmethod
    def read(cls, path: Path) -> LocustStats:
        entries = json.loads(path.read_text())
        if not entries:
            raise RuntimeError(f"{path}: Locust recorded no request")
        times: dict[int, int] = {}
        for entry in entries:
            for value, count in entry["response_times"].items():
                times[int(float(value))] = times.get(int(float(value)), 0) + int(count)
        return cls(
            requests=sum(int(e["num_requests"]) for e in entries),
            failures=sum(int(e["num_failures"]) for e in entries),
            first_request=min(float(e["start_time"]) for e in entries),
            last_request=max(float(e["last_request_timestamp"]) for e in entries),
            response_times=times,
        )


class ListeningServer:
    """A server child that prints ``listening <port>`` once bound on 127.0.0.1, for as
    long as the ``with`` block runs (``stub_oms.py``, ``stalling_server.py``)."""

    def __init__(self, command: Sequence[str], *, name: str, start_timeout_s: float = 10.0):
        self.command = list(command)
        self.name = name
        self.start_timeout_s = start_timeout_s
        self.child: subprocess.Popen[bytes] | None = None
        self.url = ""

    def pids(self) -> list[int]:
        return [self.child.pid] if self.child is not None else []

    def __enter__(self) -> ListeningServer:
        self.child = spawn(self.command, stdout=subprocess.PIPE, cwd=ROOT)
        try:
            assert self.child.stdout is not None
            ready, _, _ = select.select([self.child.stdout], [], [], self.start_timeout_s)
            line = self.child.stdout.readline().decode().strip() if ready else ""
            if not line.startswith("listening "):
                raise RuntimeError(f"{self.name} did not start: {line!r}")
            self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.child is not None:
            stop(self.child)
            if self.child.stdout is not None:
                self.child.stdout.close()
            self.child = None


def tail(path: Path, lines: int = 8) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])


def wait_for(predicate: Any, *, timeout_s: float, every_s: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every_s)
    return bool(predicate())
