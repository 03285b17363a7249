"""Locust workers forked by ``--processes`` die with their master, even by SIGKILL.

A death signal is not inherited across fork: before ``scenarios.lifeline``, workers
of a killed master were reparented to init and went on for a minute. Real processes,
real seconds: the master (started as the rehearsal starts it) or the whole CLI is
killed with SIGKILL once the workers are recording, and every process under it must
be gone within 5 s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest

from collectors.rundir import RunDir, new_run_id
from rehearsal.adhoc import url_flood_plan
from rehearsal.load import locust_command
from slo.plan import plan_snapshot
from slo.runfiles import LATENCY_FILE

pytestmark = [pytest.mark.integration, pytest.mark.parallel]  # process lifetimes, not latency

ROOT = Path(__file__).resolve().parents[2]
GONE_WITHIN_S = 5.0
START_TIMEOUT_S = 90.0


class Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def alive(process: psutil.Process) -> bool:
    """Running, and not a zombie waiting for whoever inherited it to reap it."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def locust_workers(root: psutil.Process) -> list[psutil.Process]:
    """The processes under ``root`` that are Locust workers (children of a Locust)."""
    out = []
    for process in root.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            parent = process.parent()
            if parent is not None and "locust" in " ".join(parent.cmdline()):
                out.append(process)
    return out


def wait_recording(root: psutil.Process, run_root: Path, workers: int) -> list[psutil.Process]:
    """Wait until ``workers`` workers run under ``root`` and requests are recorded."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        found = [p for p in locust_workers(root) if alive(p)]
        recorded = any(p.stat().st_size > 0 for p in run_root.rglob(LATENCY_FILE))
        if len(found) >= workers and recorded:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {workers} workers recording under pid {root.pid} in time")


def still_alive_after(processes: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [p for p in processes if alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in processes if alive(p)]


def kill_leftovers(processes: list[psutil.Process]) -> None:
    """Clean up after a failed test: only the processes this test started."""
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.kill()


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)  # fmt: skip


@linux_only
def test_a_child_forked_after_tie_forked_children_dies_with_its_parent() -> None:
    done = python(
        "import os, time\n"
        "from scenarios.lifeline import tie_forked_children\n"
        "assert tie_forked_children()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "print(pid, flush=True)\n"
        "os._exit(0)\n"  # the parent dies at once; the child sleeps on, unless tied
    )
    child = psutil.Process(int(done.stdout))
    try:
        assert not still_alive_after([child], GONE_WITHIN_S)
    finally:
        kill_leftovers([child])


@linux_only
def test_a_process_whose_parent_died_before_it_asked_kills_itself_at_once() -> None:
    done = python(
        "import ctypes, os\n"
        "from scenarios.lifeline import die_with_parent\n"
        "not_my_parent = os.getppid() + 1\n"  # as if the parent had died and we were adopted
        "die_with_parent(not_my_parent, ctypes.CDLL(None, use_errno=True).prctl)\n"
        "print('survived')\n"
    )
    assert done.returncode == -signal.SIGKILL and "survived" not in done.stdout


def test_workers_die_within_seconds_when_their_master_is_killed(
    target: str, tmp_path: Path
) -> None:
    """... and while they run, the master listens for them on loopback only."""
    plan = url_flood_plan(url=f"{target}/", rate_per_s=20, duration_s=120, max_concurrency=10,
                          arrivals="uniform")  # fmt: skip
    run = RunDir.create(tmp_path, new_run_id(), plan=plan_snapshot(plan), git_sha=None)
    with (tmp_path / "load.log").open("wb") as log:
        master = subprocess.Popen(
            locust_command(run, target, processes=2), stdout=log, stderr=subprocess.STDOUT
        )
    workers: list[psutil.Process] = []
    try:
        workers = wait_recording(psutil.Process(master.pid), tmp_path, 2)
        listening = [c.laddr for c in psutil.Process(master.pid).net_connections("inet")
                     if c.status == psutil.CONN_LISTEN]  # fmt: skip
        assert listening, "the master listens for its workers"
        assert all(addr.ip == "127.0.0.1" for addr in listening), listening
        os.kill(master.pid, signal.SIGKILL)
        master.wait(timeout=10)
        left = still_alive_after(workers, GONE_WITHIN_S)
        assert not left, f"workers {[p.pid for p in left]} outlived their master"
    finally:
        kill_leftovers(workers)
        if master.poll() is None:
            master.kill()
            master.wait()


def test_killing_the_cli_leaves_no_load_process_behind(target: str, tmp_path: Path) -> None:
    cli = subprocess.Popen(
        [sys.executable, "-m", "cli", "load", "--url", f"{target}/", "--rate", "20/s",
         "--duration", "120s", "--processes", "2", "--run-dir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    under: list[psutil.Process] = []
    try:
        root = psutil.Process(cli.pid)
        wait_recording(root, tmp_path, 2)
        under = root.children(recursive=True)
        assert len(under) >= 3  # the Locust master and its two workers, at least
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait(timeout=10)
        left = still_alive_after(under, GONE_WITHIN_S)
        assert not left, f"{[(p.pid, p.name()) for p in left]} outlived the killed CLI"
    finally:
        kill_leftovers(under)
        if cli.poll() is None:
            cli.kill()
            cli.wait()
