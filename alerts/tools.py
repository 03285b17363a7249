"""Run promtool and amtool on generated files (``peakops alerts test``).

``promtool check rules`` on each ``*.rules.yaml``, ``promtool test rules`` on each
``*.tests.yaml``, ``amtool check-config`` on ``alertmanager.yaml``. A missing tool is an
``InfraError`` (exit 3) that says how to install it.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from slo.errors import InfraError, UsageError

__all__ = ["TOOL_TIMEOUT_S", "ToolRun", "check_directory", "find_tool"]

TOOL_TIMEOUT_S = 600.0
"""promtool runs every generated test in well under a minute; more is a hang."""

_PACKAGES = {"promtool": "prometheus", "amtool": "prometheus-alertmanager"}


@dataclass(frozen=True, slots=True)
class ToolRun:
    """One tool invocation and what it said."""

    command: tuple[str, ...]
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def find_tool(name: str) -> str:
    """The path of ``name`` on PATH, or an ``InfraError`` naming the package."""
    path = shutil.which(name)
    if path is None:
        package = _PACKAGES.get(name, name)
        raise InfraError(
            f"{name} not found on PATH: install it (Debian: apt-get install -y {package})"
        )
    return path


def _run(command: list[str], cwd: Path) -> ToolRun:
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise InfraError(f"{command[0]} did not finish within {TOOL_TIMEOUT_S:g} s") from err
    except OSError as err:
        raise InfraError(f"cannot run {command[0]}: {err.strerror or err}") from err
    shown = (Path(command[0]).name, *command[1:])
    return ToolRun(shown, done.returncode, (done.stdout + done.stderr).strip())


def check_directory(directory: Path) -> tuple[ToolRun, ...]:
    """Check and test every generated file in ``directory``, in a fixed order."""
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such directory (run `peakops alerts generate`)")
    rules = sorted(p.name for p in directory.glob("*.rules.yaml"))
    tests = sorted(p.name for p in directory.glob("*.tests.yaml"))
    configs = sorted(p.name for p in directory.glob("alertmanager.yaml"))
    if not (rules or tests or configs):
        raise UsageError(f"{directory}: no generated alert files (run `peakops alerts generate`)")
    runs = []
    if rules or tests:
        promtool = find_tool("promtool")
        runs += [_run([promtool, "check", "rules", name], directory) for name in rules]
        runs += [_run([promtool, "test", "rules", name], directory) for name in tests]
    if configs:
        amtool = find_tool("amtool")
        runs += [_run([amtool, "check-config", name], directory) for name in configs]
    return tuple(runs)
