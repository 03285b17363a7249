"""Children of a LocalPlatform die with their parent: SIGKILL (PDEATHSIG) or plain exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.platforms.conftest import HERE
from tests.platforms.helpers import alive, wait_until

pytestmark = pytest.mark.integration  # a parent process with stand-in OMS children


def _run_platform(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[bytes], list[int]]:
    pids_file = tmp_path / "pids.json"
    script = subprocess.Popen(
        [sys.executable, str(HERE / "run_platform.py"), str(tmp_path), mode],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "script.err").open("wb"),
    )
    try:
        wait_until(lambda: pids_file.exists() or script.poll() is not None, timeout_s=30)
    except AssertionError:
        script.kill()
        raise
    assert pids_file.exists(), (tmp_path / "script.err").read_text()
    pids: list[int] = json.loads(pids_file.read_text())
    return script, pids


def test_sigkill_of_the_parent_takes_every_child_down(tmp_path: Path, standin_env: None) -> None:
    script, pids = _run_platform(tmp_path, "hold")
    assert len(alive(pids)) == 3

    os.kill(script.pid, signal.SIGKILL)
    script.wait(timeout=5)

    wait_until(lambda: alive(pids) == [], timeout_s=5)
    assert _event_types(tmp_path) == ["platform_started"]  # no clean-up code ran: the kernel did it


def test_sigterm_of_the_parent_takes_every_child_down(tmp_path: Path, standin_env: None) -> None:
    script, pids = _run_platform(tmp_path, "hold")
    os.kill(script.pid, signal.SIGTERM)
    script.wait(timeout=5)
    wait_until(lambda: alive(pids) == [], timeout_s=5)


def test_a_parent_that_exits_without_stop_stops_its_children_at_exit(
    tmp_path: Path, standin_env: None
) -> None:
    script, pids = _run_platform(tmp_path, "exit")
    assert script.wait(timeout=15) == 0
    assert alive(pids) == []
    assert _event_types(tmp_path) == ["platform_started", "platform_stopped"]
    assert "Traceback" not in (tmp_path / "script.err").read_text()


def _event_types(work_dir: Path) -> list[str]:
    lines = (work_dir / "events.jsonl").read_text().splitlines()
    return [json.loads(line)["type"] for line in lines]
