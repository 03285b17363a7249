"""Each generator of the chain, alone: what rules it returns for one SLO."""

from __future__ import annotations

import pytest

from alerts.alert_rules import burn_alerts, no_data_alerts
from alerts.meta_rules import meta_rules
from alerts.model import AlertingRule, AlertSlo, AlertSpec, RecordingRule
from alerts.rules import GENERATORS, build_rules
from alerts.sli_rules import period_sli_rules, window_sli_rules
from alerts.spec import alert_spec
from tests.alerts.plans import plan_with

ERRORS = "    - {id: errors, kind: error_ratio, max: 0.01, endpoint: POST /orders}\n"
LATENCY = "    - {id: fast, kind: latency, percentile: 99.9, threshold: 250ms}\n"
OVERSELL = "    - {id: no-oversell, kind: oversell, max: 2}\n"


def _spec(objectives: str, extra: str = "") -> AlertSpec:
    return alert_spec(plan_with(objectives, extra=extra))


def _one(spec: AlertSpec) -> AlertSlo:
    (slo,) = spec.slos
    return slo


def _records(rules: tuple[RecordingRule | AlertingRule, ...]) -> list[str]:
    return [r.record for r in rules if isinstance(r, RecordingRule)]


@pytest.mark.parametrize(
    ("extra", "windows"),
    [
        ("", ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]),
        ("  alertWindows: rehearsal\n", ["10s", "1m", "2m", "4m", "12m", "48m", "144m"]),
    ],
    ids=["google-30d", "rehearsal"],
)
def test_window_slis_cover_exactly_the_windows_the_alerts_read(
    extra: str, windows: list[str]
) -> None:
    spec = _spec(ERRORS, extra)
    rules = window_sli_rules(_one(spec), spec)
    assert _records(rules) == [f"peakops:slo_sli_error:ratio_rate{w}" for w in windows]
    assert all(r.labels == (("slo", "errors"),) for r in rules)


def test_an_error_ratio_sli_counts_failed_requests_over_all_of_the_endpoint() -> None:
    spec = _spec(ERRORS)
    first = window_sli_rules(_one(spec), spec)[0]
    assert first.expr == (
        '(sum(rate(peakops_client_requests_total{endpoint="POST /orders", outcome="fail"}[5m]))'
        " or vector(0))\n/\n"
        'sum(rate(peakops_client_requests_total{endpoint="POST /orders"}[5m]))\n'
    )


def test_a_latency_sli_is_all_requests_minus_the_bucket_at_the_threshold() -> None:
    spec = _spec(LATENCY)
    first = window_sli_rules(_one(spec), spec)[0]
    assert first.expr == (
        "(\n"
        "  sum(rate(peakops_client_request_duration_seconds_count[5m]))\n"
        "  -\n"
        '  sum(rate(peakops_client_request_duration_seconds_bucket{le="0.25"}[5m]))\n'
        ")\n/\n"
        "sum(rate(peakops_client_request_duration_seconds_count[5m]))\n"
    )
    assert _one(spec).budget == 0.001


def test_a_count_sli_counts_bad_events_and_is_zero_without_any() -> None:
    spec = _spec(OVERSELL)
    rules = window_sli_rules(_one(spec), spec)
    assert rules[0].record == "peakops:slo_sli_bad:increase5m"
    assert rules[0].expr == "sum(increase(peakops_collect_negative_stock_total[5m])) or vector(0)"


def test_the_low_traffic_guard_records_events_over_the_long_windows_only() -> None:
    spec = _spec(ERRORS, "  alertMinEvents: 100\n")
    events = [r for r in _records(window_sli_rules(_one(spec), spec)) if "events" in r]
    assert events == [f"peakops:slo_sli_events:increase{w}" for w in ("1h", "6h", "1d", "3d")]


def test_the_period_sli_is_exact_event_counts_not_an_average_of_ratios() -> None:
    spec = _spec(ERRORS)
    (rule,) = period_sli_rules(_one(spec), spec)
    assert rule.record == "peakops:slo_sli_error:ratio_rate30d"
    assert rule.expr == (
        '(sum(increase(peakops_client_requests_total{endpoint="POST /orders", outcome="fail"}'
        "[30d])) or vector(0))\n/\n"
        'sum(increase(peakops_client_requests_total{endpoint="POST /orders"}[30d]))\n'
    )
    assert "avg_over_time" not in rule.expr


def test_meta_rules_give_objective_budget_burn_rates_and_budget_left() -> None:
    spec = _spec(ERRORS)
    rules = meta_rules(_one(spec), spec)
    assert _records(rules) == [
        "peakops:slo_info",
        "peakops:slo_objective:ratio",
        "peakops:slo_error_budget:ratio",
        "peakops:slo_current_burn_rate:ratio",
        "peakops:slo_period_burn_rate:ratio",
        "peakops:slo_period_error_budget_remaining:ratio",
    ]
    by_name = {r.record: r for r in rules}
    assert by_name["peakops:slo_objective:ratio"].expr == "vector(0.99)"
    assert by_name["peakops:slo_error_budget:ratio"].expr == "vector(0.01)"
    assert "ratio_rate5m" in by_name["peakops:slo_current_burn_rate:ratio"].expr
    assert "ratio_rate30d" in by_name["peakops:slo_period_burn_rate:ratio"].expr
    info = dict(by_name["peakops:slo_info"].labels)
    assert info["objective"] == "at most 1 % of requests to POST /orders fail"


def test_a_count_slo_has_a_budget_of_units_per_period() -> None:
    spec = _spec(OVERSELL)
    by_name = {r.record: r for r in meta_rules(_one(spec), spec)}
    assert by_name["peakops:slo_error_budget:count"].expr == "vector(2)"
    assert "peakops:slo_objective:ratio" not in by_name
    assert "* 300 / 2592000)" in by_name["peakops:slo_current_burn_rate:ratio"].expr


def test_burn_alerts_pair_a_short_and_a_long_window_above_the_factor() -> None:
    spec = _spec(ERRORS)
    alerts = burn_alerts(_one(spec), spec)
    assert [a.alert for a in alerts] == [
        "PeakopsSLOBurnPageQuick",
        "PeakopsSLOBurnPageSlow",
        "PeakopsSLOBurnTicketQuick",
        "PeakopsSLOBurnTicketSlow",
    ]
    page = alerts[0]
    assert page.expr == (
        'peakops:slo_sli_error:ratio_rate5m{slo="errors"} > (14.4 * 0.01)\n'
        "and on(slo)\n"
        'peakops:slo_sli_error:ratio_rate1h{slo="errors"} > (14.4 * 0.01)\n'
    )
    assert (page.for_, dict(page.labels)) == ("0s", {"severity": "page", "slo": "errors"})
    assert [dict(a.labels)["severity"] for a in alerts] == ["page", "page", "ticket", "ticket"]
    annotations = dict(page.annotations)
    assert annotations["runbook_url"] == "docs/alerts.md#errors"
    assert annotations["summary"] == "errors: error budget burning over 14.4x (page, 1h/5m windows)"


def test_the_guard_joins_every_burn_alert_of_an_event_ratio_slo() -> None:
    spec = _spec(ERRORS, "  alertMinEvents: 100\n")
    for alert in burn_alerts(_one(spec), spec):
        assert "peakops:slo_sli_events:increase" in alert.expr and ">= 100" in alert.expr


def test_a_count_slo_alert_compares_the_units_a_window_may_spend() -> None:
    spec = _spec(OVERSELL)
    page = burn_alerts(_one(spec), spec)[0]
    assert page.expr == (
        'peakops:slo_sli_bad:increase5m{slo="no-oversell"} > (14.4 * 2 * 300 / 2592000)\n'
        "and on(slo)\n"
        'peakops:slo_sli_bad:increase1h{slo="no-oversell"} > (14.4 * 2 * 3600 / 2592000)\n'
    )


def test_the_no_data_alert_watches_the_slis_metric() -> None:
    spec = _spec(ERRORS)
    (alert,) = no_data_alerts(_one(spec), spec)
    assert alert.alert == "PeakopsSLONoData"
    assert alert.expr == (
        'absent_over_time(peakops_client_requests_total{endpoint="POST /orders"}[10m])'
    )
    assert dict(alert.labels) == {"severity": "ticket", "slo": "errors"}


def test_the_chain_makes_one_group_per_slo_in_rule_order() -> None:
    spec = _spec(ERRORS + LATENCY, "  alertWindows: rehearsal\n")
    rules = build_rules(spec)
    assert [g.name for g in rules.groups] == ["peakops-slo-errors", "peakops-slo-fast"]
    assert all(g.interval == "1s" for g in rules.groups)
    slo = spec.slos[0]
    chained = tuple(rule for generate in GENERATORS for rule in generate(slo, spec))
    assert rules.groups[0].rules == chained


def test_the_notes_say_what_cannot_fire_and_what_was_skipped() -> None:
    spec = _spec(
        "    - {id: lenient, kind: error_ratio, max: 0.1}\n"
        "    - {id: fast, kind: throughput, minRatio: 0.9}\n"
    )
    notes = build_rules(spec).notes
    assert notes[0].startswith(
        "plan synthetic: window set google-30d (period 30d; page quick 14.4x"
    )
    assert any(n.startswith("skipped fast (throughput): ") for n in notes)
    assert (
        "lenient: page quick can never fire: 14.4 x 0.1 >= 1 (an error ratio cannot exceed 100 %)"
        in notes
    )
