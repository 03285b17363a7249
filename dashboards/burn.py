"""The SLO burn dashboard: one row per SLO with live rules, from the recording rules alone.

Burn rate per window is the recorded SLI over that window divided by the error budget
(the same division the alerts make); for a count SLO (a budget of units per period)
the bad events per window are shown instead, since a budget of 0 has no finite rate.
"""

from __future__ import annotations

from urllib.parse import quote

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.models import dashboard as dm

from dashboards.inputs import DashboardInputs, SloRow
from dashboards.panels import (
    AMBER,
    GREEN,
    RED,
    Grid,
    annotation_queries,
    prom,
    run_matcher,
    stat_panel,
    steps,
    text_panel,
    thresholds,
    timeseries_panel,
)
from dashboards.variables import datasource_variable, run_variable
from slo import conventions as n

__all__ = ["FIRST_LOOK", "burn_dashboard"]

FIRING = 'alertstate="firing"'

FIRST_LOOK = """\
**Look first at *Alerts firing* and *Error budget remaining***: a page means the
budget burns fast enough to be gone within days; act on the SLO whose row is red.
In each row, compare the short and long windows: both high is a real burn, only the
short one is a blip.

**Colours**: burn rate **green** below the slowest ticket factor, **amber** up to the
fastest page factor, **red** beyond. Budget left **green** above 25 %, **amber** down
to 0, **red** overspent. Annotations: **red** fault windows, **blue** deploys,
**purple** rollbacks, **orange** alerts.
"""


def _sel(slo: str, *extra: str) -> str:
    return "{" + ", ".join((f'{n.LABEL_SLO}="{slo}"', run_matcher(), *extra)) + "}"


def _alert_link(slo: SloRow, rules: str) -> db.DashboardLink:
    search = quote(f"label:{n.LABEL_SLO}={slo.id}")
    return (
        db.DashboardLink(f"Alert rules of {slo.id}").type(dm.DashboardLinkType.LINK)
        .url(f"/alerting/list?search={search}").tooltip(f"generated in {rules}")
        .target_blank(True)
    )  # fmt: skip


def _burn_panel(slo: SloRow, limits: tuple[float, float], rules: str) -> timeseries.Panel:
    windows = slo.windows
    if slo.ratio:
        targets = [
            prom(f"{n.window_rule(n.RULE_SLI_ERROR, w)}{_sel(slo.id)} / on({n.LABEL_SLO}) "
                 f"{n.RULE_ERROR_BUDGET}{_sel(slo.id)}", f"{w}")
            for w in windows
        ]  # fmt: skip
        title, unit = "Burn rate per window", "x"
        amber, red = limits
        limit = thresholds(amber, red)
    else:
        targets = [prom(f"{n.window_rule(n.RULE_SLI_BAD, w)}{_sel(slo.id)}", f"{w}")
                   for w in windows]  # fmt: skip
        title, unit, limit = "Bad events per window", "short", thresholds(red=1)
    panel = timeseries_panel(
        title, f"{slo.objective}. Served by {slo.served_by}.", targets, unit=unit, limits=limit
    )
    return panel.links([_alert_link(slo, rules)])


def _slo_row(grid: Grid, slo: SloRow, limits: tuple[float, float], rules: str) -> None:
    grid.row(f"SLO {slo.id} ({slo.kind})")
    amber, red = limits
    firing = f"count(ALERTS{_sel(slo.id, FIRING)})"
    grid.line(
        (12, _burn_panel(slo, limits, rules)),
        (4, stat_panel("Current burn rate", "Over the shortest window.",
                       [prom(f"{n.RULE_CURRENT_BURN}{_sel(slo.id)}", "burn")], unit="x",
                       limits=thresholds(amber, red))),
        (4, stat_panel(f"Budget left ({slo.period})", "1 - the share of the period's "
                       "budget spent.",
                       [prom(f"{n.RULE_BUDGET_REMAINING}{_sel(slo.id)}", "left")],
                       unit="percentunit", limits=steps(RED, (0, AMBER), (0.25, GREEN)))),
        (4, stat_panel("Alerts firing", "Burn-rate and no-data alerts of this SLO.",
                       [prom(f"{firing} or vector(0)", "firing")],
                       limits=thresholds(red=1))),
        height=7,
    )  # fmt: skip


def _skipped_text(inputs: DashboardInputs) -> str:
    if not inputs.skipped:
        return "Every SLO of the plan has live recording rules."
    lines = [f"- **{s.id}** ({s.kind}): {s.reason}" for s in inputs.skipped]
    return "Judged only by the gate after a run (no live SLI):\n\n" + "\n".join(lines)


def burn_dashboard(inputs: DashboardInputs, uid: str,
                   limits: tuple[float, float]) -> db.Dashboard:  # fmt: skip
    """The SLO burn dashboard: ``limits`` are (slowest ticket, fastest page) burn factors
    of the window set."""
    plan = inputs.plan
    grid = Grid()
    grid.line((24, text_panel("Start here", FIRST_LOOK)), height=6)
    grid.row("All SLOs")
    grid.line(
        (10, stat_panel("Error budget remaining", "Per SLO: the share of the period's budget "
                        "left (negative: overspent).",
                        [prom(f"{n.RULE_BUDGET_REMAINING}{{{run_matcher()}}}", "{{slo}}")],
                        unit="percentunit", limits=steps(RED, (0, AMBER), (0.25, GREEN)))),
        (8, timeseries_panel(
            "Alerts firing", "Burn-rate and no-data alerts firing, per SLO and alert.",
            [prom(f"count by ({n.LABEL_SLO}, alertname) (ALERTS{{{run_matcher()}, "
                  f'alertstate="firing", alertname=~"{n.ALERT_BURN_PREFIX}.*|{n.ALERT_NO_DATA}"}})',
                  "{{slo}} {{alertname}}")], limits=thresholds(red=1))),
        (6, text_panel("SLOs without live rules", _skipped_text(inputs))),
        height=7,
    )  # fmt: skip
    for slo in sorted(inputs.slos, key=lambda s: s.id):
        _slo_row(grid, slo, limits, inputs.alert_rules_url)
    dashboard = (
        db.Dashboard(f"SLO burn: {plan.name}").uid(uid).tags(["peakops", plan.name])
        .time("now-6h", "now").refresh("30s").timezone("browser").editable()
        .description(f"Window set {inputs.window_set}; rules in {inputs.alert_rules_url}.")
        .with_variable(datasource_variable()).with_variable(run_variable())
        .annotations(list(annotation_queries()))
    )  # fmt: skip
    return grid.add_to(dashboard)
