"""Generated files on disk (alert rules, dashboards): write them, or compare them with what
is there (``--check``)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path

from slo.errors import UsageError

__all__ = ["diff_files", "write_files"]


def write_files(directory: Path, files: Mapping[str, str]) -> tuple[Path, ...]:
    """Write every file (creating ``directory``); the paths written, sorted."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name in sorted(files):
            path = directory / name
            path.write_text(files[name], encoding="utf-8")
            written.append(path)
    except OSError as err:
        raise UsageError(f"cannot write {directory}: {err.strerror or err}") from err
    return tuple(written)


def diff_files(directory: Path, files: Mapping[str, str]) -> str:
    """A unified diff from the files on disk to ``files`` ("" when they are equal);
    a missing file diffs against nothing."""
    out: list[str] = []
    for name in sorted(files):
        path = directory / name
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = ""
        except OSError as err:
            raise UsageError(f"cannot read {path}: {err.strerror or err}") from err
        if current != files[name]:
            out += difflib.unified_diff(
                current.splitlines(keepends=True),
                files[name].splitlines(keepends=True),
                fromfile=f"{path} (on disk)",
                tofile=f"{path} (generated)",
            )
    return "".join(out)
