"""The analysis on plain data: per-window judgements, streaks, no data, no rollback loop."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from rollout.analysis import (
    Analysis,
    AnalysisPolicy,
    IntervalFigures,
    Judgement,
    judge,
    needed_events,
    no_data,
    split_watched,
)
from slo.loader import load_plan_text
from slo.objectives import ErrorRatioObjective, LatencyObjective

P99 = LatencyObjective.model_validate(
    {"id": "place-p99", "endpoint": "POST /orders", "percentile": 99, "threshold": "250ms"}
)
ERRORS = ErrorRatioObjective.model_validate({"id": "errors", "max": 0.02})
NONE_FAIL = ErrorRatioObjective.model_validate({"id": "none-fail", "max": 0})
POLICY = AnalysisPolicy()


def ok() -> Judgement:
    return judge(ERRORS, IntervalFigures(1000, 5), 20)


def bad() -> Judgement:
    return judge(ERRORS, IntervalFigures(1000, 100), 20)


def missing() -> Judgement:
    return no_data(ERRORS, "no data in the window")


def feed(analysis: Analysis, *intervals: Judgement) -> list[str]:
    return [analysis.observe(float(i), [j]).action for i, j in enumerate(intervals)]


@pytest.mark.parametrize(
    ("objective", "figures", "status", "burn"),
    [
        (P99, IntervalFigures(1000, 5), "pass", 0.5),
        (P99, IntervalFigures(1000, 10), "pass", 1.0),
        (P99, IntervalFigures(1000, 11), "fail", 1.1),
        (ERRORS, IntervalFigures(500, 30), "fail", 3.0),
        (NONE_FAIL, IntervalFigures(500, 0), "pass", 0.0),
        (NONE_FAIL, IntervalFigures(500, 1), "fail", math.inf),
    ],
    ids=[
        "half the slow share a p99 allows burns at 0.5",
        "exactly the allowed 1 % slow is a pass (burn 1 is not above 1)",
        "1.1 % slower than the threshold breaches a p99",
        "6 % failed against a 2 % budget burns at 3",
        "max 0 with nothing failed passes",
        "max 0 with one failure burns without bound",
    ],
)
def test_a_window_fails_when_its_burn_rate_is_above_one(
    objective: LatencyObjective | ErrorRatioObjective,
    figures: IntervalFigures,
    status: str,
    burn: float,
) -> None:
    judged = judge(objective, figures, 20)
    assert judged.status == status
    assert judged.burn_rate == pytest.approx(burn)


def test_a_judgement_names_the_rule_the_share_and_the_burn_rate() -> None:
    judged = judge(P99, IntervalFigures(1000, 30), 20)
    assert judged.slo_id == "place-p99"
    assert judged.reason == (
        "p99 of POST /orders < 250 ms: 3% of 1000 successful requests slower than 250 ms "
        "(1% allowed): burn rate 3"
    )


@pytest.mark.parametrize(
    ("objective", "min_samples", "needed"),
    [(ERRORS, 20, 50), (ERRORS, 80, 80), (P99, 20, 100), (NONE_FAIL, 20, 20)],
    ids=["a 2 % budget needs 50 events to hold one failure", "min samples above that wins",
         "a p99 needs 100 events", "max 0 needs only min samples"],
)  # fmt: skip
def test_a_window_needs_enough_events_to_hold_one_tolerated_bad_event(
    objective: LatencyObjective | ErrorRatioObjective, min_samples: int, needed: int
) -> None:
    assert needed_events(objective, min_samples) == needed
    below = judge(objective, IntervalFigures(needed - 1, needed - 1), min_samples)
    assert below.status == "no_data"
    assert f"fewer than the {needed} needed" in below.reason
    assert judge(objective, IntervalFigures(needed, 0), min_samples).status == "pass"


def test_no_figures_and_nan_events_are_no_data_never_a_pass() -> None:
    assert judge(P99, None, 20).status == "no_data"
    assert judge(P99, IntervalFigures(math.nan, 0), 20).status == "no_data"


def test_a_sustained_breach_rolls_back_at_the_failure_limit() -> None:
    assert feed(Analysis(POLICY), bad(), bad()) == ["keep_watching", "rollback"]
    three = Analysis(replace(POLICY, failure_limit=3))
    assert feed(three, bad(), bad(), bad()) == ["keep_watching", "keep_watching", "rollback"]


def test_the_rollback_reason_names_the_slo_its_burn_rate_and_the_streak() -> None:
    analysis = Analysis(POLICY)
    analysis.observe(0.0, [bad(), ok()])
    decision = analysis.observe(2.0, [judge(P99, IntervalFigures(1000, 40), 20), bad()])
    assert decision.action == "rollback"
    assert decision.reason.startswith("SLO breach certain: place-p99: p99 of")
    assert "; errors: error ratio of" in decision.reason
    assert "burn rate 4" in decision.reason and "burn rate 5" in decision.reason
    assert "2 failing interval(s) of 2" in decision.reason


def test_one_pass_between_failures_does_not_clear_the_streak() -> None:
    """A service flapping fail, pass, fail has not recovered: success_limit passes do."""
    assert feed(Analysis(POLICY), bad(), ok(), bad()) == ["keep_watching"] * 2 + ["rollback"]


def test_success_limit_passes_in_a_row_clear_the_streak_and_declare_healthy() -> None:
    analysis = Analysis(POLICY)
    actions = feed(analysis, bad(), ok(), ok(), bad())
    assert actions == ["keep_watching", "keep_watching", "healthy", "keep_watching"]
    assert analysis.failures == 1


@pytest.mark.parametrize(
    ("on_no_data", "actions"),
    [("hold", ["keep_watching"] * 4), ("fail", ["keep_watching", "rollback", "keep_watching",
                                                "keep_watching"])],
    ids=["hold: no data neither fails nor passes", "fail: no data counts as failing"],
)  # fmt: skip
def test_the_no_data_policy(on_no_data: str, actions: list[str]) -> None:
    analysis = Analysis(replace(POLICY, on_no_data=on_no_data))  # type: ignore[arg-type]
    assert feed(analysis, missing(), missing(), missing(), missing()) == actions


def test_held_no_data_keeps_both_streaks_as_they_were() -> None:
    analysis = Analysis(POLICY)
    assert feed(analysis, bad(), missing(), missing(), bad())[-1] == "rollback"
    recovering = Analysis(POLICY)
    assert feed(recovering, ok(), missing(), ok()) == ["keep_watching"] * 2 + ["healthy"]


def test_an_interval_with_one_slo_missing_is_no_data_not_a_pass() -> None:
    decision = Analysis(POLICY).observe(0.0, [ok(), no_data(P99, "no data in the window")])
    assert (decision.interval, decision.successes) == ("no_data", 0)
    assert "place-p99: no data" in decision.reason


def test_no_second_rollback_until_the_previous_release_is_seen_healthy() -> None:
    analysis = Analysis(POLICY)
    actions = feed(analysis, bad(), bad(), bad(), bad(), ok(), bad(), ok(), ok(), bad(), bad())
    assert actions == [
        "keep_watching", "rollback",           # the breach: rolled back once
        "keep_watching", "keep_watching",      # still failing: no second rollback
        "keep_watching", "keep_watching",      # one pass is not a recovery
        "keep_watching", "healthy",            # two passes: recovered, re-armed
        "keep_watching", "rollback",           # a new breach may roll back again
    ]  # fmt: skip
    blocked = Analysis(POLICY)
    feed(blocked, bad(), bad())
    assert "no second rollback before 2 passing intervals" in blocked.observe(9.0, [bad()]).reason


def test_an_unreachable_source_is_held_even_when_no_data_fails() -> None:
    analysis = Analysis(replace(POLICY, on_no_data="fail"))
    analysis.observe(0.0, [bad()])
    first = analysis.observe(2.0, [missing()], unreachable="connection refused")
    second = analysis.observe(4.0, [missing()], unreachable="connection refused")
    assert (first.action, second.action) == ("keep_watching", "keep_watching")
    assert (second.interval, second.failures, second.unreachable_intervals) == (
        "unreachable", 1, 2)  # fmt: skip
    assert "unreachable for 2 intervals in a row: connection refused" in second.reason
    assert "nothing is rolled back" in second.reason


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("interval_s", 0.0, "interval_s: must be positive"),
     ("window_s", 1.0, "window_s: must be at least the interval"),
     ("failure_limit", 0, "failure_limit: must be at least 1"),
     ("success_limit", 0, "success_limit: must be at least 1"),
     ("min_samples", 0, "min_samples: must be at least 1"),
     ("on_no_data", "skip", "on_no_data: must be hold or fail")],
    ids=["a zero interval", "a window shorter than the interval", "no failure limit",
         "no success limit", "no minimum of samples", "an unknown no-data policy"],
)  # fmt: skip
def test_a_policy_refuses_values_that_cannot_work(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AnalysisPolicy(**{field: value})  # type: ignore[arg-type]


def test_only_latency_and_error_ratio_slos_outside_faults_are_watched() -> None:
    plan = load_plan_text(
        """
apiVersion: peakops/v1
target: {kind: embedded}
load: {duration: 10s, profile: constant, baseline: 600}
slos:
  objectives:
    - {id: p99, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms}
    - {id: errors, kind: error_ratio, max: 0.01, during: steady}
    - {id: errors-in-faults, kind: error_ratio, max: 0.2, during: faults}
    - {id: throughput, kind: throughput, endpoint: POST /orders, minRatio: 0.9}
""",
        "plan.yaml",
    )
    watched, skipped = split_watched(plan.slos.objectives)
    assert [o.id for o in watched] == ["p99", "errors"]
    assert {o.id: why for o, why in skipped} == {
        "errors-in-faults": "during: faults: judged inside fault windows only",
        "throughput": "throughput: no PromQL SLI",
    }
