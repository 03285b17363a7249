"""A plan's alerting files, rendered: rules, their promtool tests, Alertmanager config.

Pure: the plan model in, ``{file name: text}`` out. ``slo.generated_files`` writes and checks
them on disk.
"""

from __future__ import annotations

from alerts.alertmanager import DEFAULT_PAGE_URL, build_alertmanager
from alerts.openslo import openslo_documents
from alerts.promtests import build_tests
from alerts.render import render_documents, render_yaml
from alerts.rules import build_rules
from alerts.spec import alert_spec
from slo.plan import Plan

__all__ = ["ALERTMANAGER_FILE", "generate_files", "generate_openslo", "rules_file", "tests_file"]

ALERTMANAGER_FILE = "alertmanager.yaml"


def rules_file(plan_name: str) -> str:
    return f"{plan_name}.rules.yaml"


def tests_file(plan_name: str) -> str:
    return f"{plan_name}.tests.yaml"


def generate_files(
    plan: Plan, *, page_url: str = DEFAULT_PAGE_URL, ticket_url: str | None = None
) -> dict[str, str]:
    """Every generated file of ``plan`` by name; raises ``UsageError`` when an SLO
    cannot be expressed (a latency threshold between buckets)."""
    spec = alert_spec(plan)
    rules = build_rules(spec)
    tests = build_tests(spec, rules_file(plan.name))
    routes = (
        f"plan {plan.name}: routing times of window set {spec.window_set_name}; pages to "
        f"{page_url}, tickets to {ticket_url or 'no receiver (dropped)'}",
    )
    return {
        rules_file(plan.name): render_yaml(rules.to_dict(), rules.notes),
        tests_file(plan.name): render_yaml(tests.content, (*rules.notes, *tests.notes)),
        ALERTMANAGER_FILE: render_yaml(build_alertmanager(spec.windows, page_url=page_url,
                                                          ticket_url=ticket_url), routes),
    }  # fmt: skip


def generate_openslo(plan: Plan) -> str:
    """The plan's event-ratio SLOs as OpenSLO v1 documents (one YAML stream)."""
    documents, notes = openslo_documents(alert_spec(plan))
    return render_documents(documents, (f"plan {plan.name}: OpenSLO v1", *notes))
