"""Child-process plumbing: free ports, log tails, health waits, stopping stubborn children."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from platforms.processes import ChildProcess, Spawner, free_port, stop_all, wait_healthy


def _child(tmp_path: Path, code: str) -> ChildProcess:
    return ChildProcess(
        name="worker",
        argv=[sys.executable, "-c", code],
        log_path=tmp_path / "worker.log",
        port=free_port(),
    )


def test_free_port_never_hands_out_a_port_twice() -> None:
    taken: set[int] = set()
    ports = [free_port(taken) for _ in range(20)]
    assert len(set(ports)) == 20
    assert taken == set(ports)


@pytest.mark.integration
def test_a_child_that_exits_is_reported_with_its_code_and_its_last_log_lines(
    tmp_path: Path,
) -> None:
    spawner = Spawner()
    spawner.start()
    try:
        child = _child(tmp_path, "import sys; print('first run'); sys.exit(1)")
        child.spawn(spawner)
        assert wait_healthy(child, 10) == "exited with code 1"
        child.argv[-1] = "import sys; print('line 1'); print('boom', file=sys.stderr); sys.exit(7)"
        child.spawn(spawner)
        assert wait_healthy(child, 10) == "exited with code 7"
    finally:
        spawner.close()
    assert child.log_tail(2) == "line 1\nboom"
    assert "first run" in child.log_path.read_text()


@pytest.mark.integration
def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            " print('ready', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
    )
    assert stubborn.stdout is not None
    assert stubborn.stdout.readline() == b"ready\n"
    began = time.monotonic()
    stop_all([stubborn], grace_s=0.3)
    assert stubborn.returncode == -signal.SIGKILL
    assert time.monotonic() - began < 3


def test_a_spawner_refuses_work_once_closed(tmp_path: Path) -> None:
    spawner = Spawner()
    spawner.start()
    spawner.close()
    spawner.close()
    with pytest.raises(RuntimeError, match="spawner is not running"):
        _child(tmp_path, "pass").spawn(spawner)


class _Stopped(Exception):
    """What a rehearsal's signal handler raises (``rehearsal.shutdown.Stopped``)."""


def test_a_spawner_whose_start_a_signal_cut_short_still_closes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGTERM as the target starts: the exception can leave ``Thread.start`` before the
    thread ran. Closing must not raise over it ("cannot join thread before it is
    started" was a traceback after the rehearsal's own stop message)."""

    def cut_short(self: threading.Thread) -> None:
        raise _Stopped

    monkeypatch.setattr(threading.Thread, "start", cut_short)
    spawner = Spawner()
    with pytest.raises(_Stopped):
        spawner.start()
    monkeypatch.undo()
    spawner.close()
    with pytest.raises(RuntimeError, match="spawner is not running"):
        spawner.popen([sys.executable, "-c", "pass"], io.BytesIO())
