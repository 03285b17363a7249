"""Synthetic plans for the alert tests, and a promtool runner that skips without it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from slo.loader import load_plan_text
from slo.plan import Plan

__all__ = ["ROOT", "needs_tool", "plan_with", "run_tool"]

ROOT = Path(__file__).resolve().parents[2]


def plan_with(objectives: str, *, name: str = "synthetic", extra: str = "") -> Plan:
    """A minimal plan with these objectives (YAML list items, 4-space indented) and
    ``extra`` lines under ``slos:`` (2-space indented), e.g. ``alertWindows: rehearsal``."""
    text = (
        f"apiVersion: peakops/v1\nname: {name}\ntarget: {{}}\n"
        "load: {duration: 60s, baseline: 10}\n"
        f"slos:\n{extra}  objectives:\n{objectives}"
    )
    return load_plan_text(text, f"{name}.yaml")


def needs_tool(name: str) -> str:
    """The tool's path; skips the test (with the reason) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: prometheus / prometheus-alertmanager)")
    return path


def run_tool(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [needs_tool(command[0]), *command[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
