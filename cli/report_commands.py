"""``peakops report``: the self-contained HTML report of a run directory."""

from __future__ import annotations

import typer

__all__ = ["report"]


def report() -> None:
    """Build report.html for a run directory (a finished, failed or killed run)."""
    raise typer.Exit(2)
