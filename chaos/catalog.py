"""The experiments shipped in ``chaos/experiments/``, by name (``kill-replica``...)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from slo.errors import UsageError

__all__ = ["EXPERIMENTS_DIR", "Experiment", "experiment_path", "list_experiments"]

EXPERIMENTS_DIR = Path(__file__).resolve().parent / "experiments"


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    path: Path


def list_experiments() -> list[Experiment]:
    """Every shipped experiment, by name."""
    found = []
    for path in sorted(EXPERIMENTS_DIR.glob("*.json")):
        title = str(json.loads(path.read_text()).get("title", ""))
        found.append(Experiment(path.stem, title, path))
    return found


def experiment_path(name: str) -> Path:
    """The file of a shipped experiment; an unknown name is a UsageError listing them."""
    path = EXPERIMENTS_DIR / f"{name}.json"
    if "/" in name or not path.is_file():
        known = ", ".join(e.name for e in list_experiments())
        raise UsageError(f"unknown experiment {name!r} (known: {known})")
    return path
