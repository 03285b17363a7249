"""``peakops watch``'s loop: every interval, read each watched SLO's trailing window,
let the analysis decide (``rollout.analysis``), and roll back once a breach is certain.

The window figures come through a :class:`WindowSource`; :class:`PromWindows` reads
them from Prometheus with the gate's own PromQL (``slo.promql``: ``events_expr`` and
``sli_expr`` with ``increase``), so watch and gate judge the same expression. The
clock and the sleep are injected: tests replay recorded series on a fake clock.

Prometheus unreachable on the first interval is an infrastructure error (exit 3);
later, an interval it cannot be read is held for every objective (never a pass,
never a rollback) and the analysis says so once it lasts ``failure_limit`` intervals.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from rollout.analysis import (
    Analysis,
    AnalysisPolicy,
    Decision,
    IntervalFigures,
    Judgement,
    WatchedObjective,
    judge,
    no_data,
)
from rollout.promql import PromClient, QueryRejected
from rollout.rollback_action import RollbackAction, RollbackDone
from slo.conventions import METRIC_CLIENT_LATENCY
from slo.errors import InfraError, PeakopsError, UsageError
from slo.evaluation import number
from slo.objectives import LatencyObjective
from slo.promql import RatioSli, error_ratio_sli, events_expr, latency_sli, sli_expr

__all__ = [
    "NoWindow",
    "PromWindows",
    "WatchOutcome",
    "WindowSource",
    "sli_of",
    "watch",
]

MAX_REASON = 480
"""A rollback reason lands in a Kubernetes Event and an annotation: keep it short."""


class NoWindow(Exception):
    """The source has no figures for this window; ``str()`` says why."""


class WindowSource(Protocol):
    """Where a watch reads one objective's trailing window ending at ``end_ts``.

    ``None`` (or ``NoWindow`` with a reason) is no data; ``InfraError`` means the
    source itself cannot be reached (every objective of the interval is then held).
    """

    def figures(
        self, objective: WatchedObjective, end_ts: float, window_s: float
    ) -> IntervalFigures | None: ...


def sli_of(objective: WatchedObjective) -> RatioSli:
    """The objective's PromQL SLI, or a ``UsageError`` naming the SLO when its latency
    threshold is not a bucket boundary (the buckets could not tell slow from fast)."""
    if not isinstance(objective, LatencyObjective):
        return error_ratio_sli(objective)
    try:
        return latency_sli(objective)
    except UsageError:
        raise UsageError(
            f"SLO {objective.id!r}: threshold {number(objective.threshold_ms)} ms is not a "
            f"bucket boundary of {METRIC_CLIENT_LATENCY}: Prometheus cannot count the "
            "requests slower than it, so watch cannot judge it"
        ) from None


class PromWindows:
    """Window figures from Prometheus: two instant queries per objective and interval,
    the SLI's events and its bad share (``increase`` over the window)."""

    def __init__(self, client: PromClient, objectives: Sequence[WatchedObjective]) -> None:
        self._client = client
        self._slis = {objective.id: sli_of(objective) for objective in objectives}

    def figures(
        self, objective: WatchedObjective, end_ts: float, window_s: float
    ) -> IntervalFigures | None:
        sli = self._slis.get(objective.id) or sli_of(objective)
        span = f"{max(1, round(window_s * 1000))}ms"
        try:
            events = self._one(events_expr(sli, span), end_ts)
            if events is None or events <= 0:
                return None if events is None else IntervalFigures(0.0, 0.0)
            share = self._one(sli_expr(sli, span, "increase"), end_ts)
        except QueryRejected as err:
            raise NoWindow(str(err)) from err
        if share is None:
            raise NoWindow("the SLI's bad share is empty or NaN over the window")
        return IntervalFigures(events, share * events)

    def _one(self, query: str, at: float) -> float | None:
        """The single value of ``query`` at ``at``; None when empty or NaN."""
        samples = self._client.instant(query, at)
        if len(samples) != 1 or math.isnan(samples[0].value):
            return None
        return samples[0].value


Ending = Literal["watched", "breach", "rollback_failed", "rollback_refused"]


@dataclass(frozen=True)
class WatchOutcome:
    """How a watch ended: ``watched`` the whole duration; ``breach`` (rolled back, or
    decided only when no action was given); the rollback failed or was refused."""

    ending: Ending
    intervals: int
    decision: Decision | None = None
    """The rollback decision, if there was one."""
    done: RollbackDone | None = None
    error: PeakopsError | None = None


def watch(
    objectives: Sequence[WatchedObjective],
    source: WindowSource,
    policy: AnalysisPolicy,
    *,
    duration_s: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    on_decision: Callable[[Decision], None] = lambda _decision: None,
    action: RollbackAction | None = None,
) -> WatchOutcome:
    """Judge every ``policy.interval_s`` from now to now + ``duration_s`` (both ends
    included); stop at the first rollback decision and, unless ``action`` is None (a
    dry run), roll back. ``InfraError`` when the source is unreachable at the start."""
    analysis = Analysis(policy)
    start = clock()
    intervals = 0
    while True:
        at = clock()
        judgements, unreachable = _judge_all(objectives, source, policy, at)
        if unreachable is not None and intervals == 0:
            raise InfraError(unreachable)
        decision = analysis.observe(at, judgements, unreachable=unreachable)
        intervals += 1
        on_decision(decision)
        if decision.action == "rollback":
            return _roll_back(decision, intervals, action)
        now = clock()
        tick = _next_tick(start, policy.interval_s, now)
        if tick > start + duration_s + 1e-6:
            return WatchOutcome("watched", intervals)
        sleep(max(0.0, tick - now))


def _judge_all(
    objectives: Sequence[WatchedObjective], source: WindowSource, policy: AnalysisPolicy, at: float
) -> tuple[list[Judgement], str | None]:
    """Each objective's judgement at ``at``, or every one held with why the source
    could not be reached."""
    judgements: list[Judgement] = []
    for objective in objectives:
        try:
            figures = source.figures(objective, at, policy.window_s)
        except NoWindow as err:
            judgements.append(no_data(objective, str(err)))
            continue
        except InfraError as err:
            why = str(err)
            return [no_data(o, f"source unreachable: {why}") for o in objectives], why
        judgements.append(judge(objective, figures, policy.min_samples))
    return judgements, None


def _next_tick(start: float, interval_s: float, now: float) -> float:
    """The first tick after ``now`` (an overrunning interval skips ticks, never bunches)."""
    passed = math.floor((now - start) / interval_s + 1e-6)
    return start + (passed + 1) * interval_s


def _roll_back(decision: Decision, intervals: int, action: RollbackAction | None) -> WatchOutcome:
    if action is None:
        return WatchOutcome("breach", intervals, decision)
    reason = decision.reason
    if len(reason) > MAX_REASON:
        reason = reason[: MAX_REASON - 1] + "…"
    try:
        done = action.rollback(reason, source="watch")
    except PeakopsError as err:
        return WatchOutcome("rollback_failed", intervals, decision, error=err)
    ending: Ending = "rollback_refused" if done.action == "refused" else "breach"
    return WatchOutcome(ending, intervals, decision, done)
