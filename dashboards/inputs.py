"""What the dashboards are built from: the plan, and its SLOs as the alert rules judge them.

Which SLOs have live recording rules, over which windows, is the alert generator's
knowledge (``alerts``), which this package may not import: the caller reduces it to
``SloRow``s (``cli/dashboards_commands.py``), so both always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from slo.plan import Plan

__all__ = ["DashboardInputs", "SkippedSlo", "SloRow"]


@dataclass(frozen=True)
class SloRow:
    """One SLO with recording rules: one row of the SLO burn dashboard.

    ``ratio``: an event-ratio SLI (``peakops:slo_sli_error:ratio_rate<w>``), else a count
    of bad events (``peakops:slo_sli_bad:increase<w>``) against a budget of units.
    ``windows``: the windows of its rules, shortest first; ``period`` the SLO period.
    """

    id: str
    kind: str
    objective: str
    ratio: bool
    windows: tuple[str, ...]
    period: str
    served_by: str


@dataclass(frozen=True)
class SkippedSlo:
    """An SLO without a live SLI, and why (shown, never hidden)."""

    id: str
    kind: str
    reason: str


@dataclass(frozen=True)
class DashboardInputs:
    """The plan and its SLOs' rules, as the builders read them."""

    plan: Plan
    window_set: str
    slos: tuple[SloRow, ...] = ()
    skipped: tuple[SkippedSlo, ...] = ()
    alert_rules_url: str = "alerts/generated"
    """Where the alert rules of these SLOs are read (a link on every SLO row)."""
