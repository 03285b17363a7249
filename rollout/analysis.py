"""Continuous SLO analysis, pure: judge each interval's trailing window, decide when a
breach is certain enough to roll back.

Used by ``peakops watch`` (``rollout.watch``: the loop and its Prometheus source) and
meant for a rehearsal's in-flood analysis, so nothing here does I/O or reads a clock.
Each interval, every watched objective is judged from its window figures
(:func:`judge`: events and bad events -> burn rate); :class:`Analysis` turns the
stream of judgements into decisions with hysteresis:

* ``failure_limit`` failing intervals make a breach certain (``rollback``); a failing
  streak is cleared only by ``success_limit`` passing intervals in a row, so a service
  that flaps between fail and pass does not escape by passing once in between;
* no data (too few events, an empty window, Prometheus unreachable) is never a pass:
  with ``on_no_data="hold"`` the interval leaves both streaks as they were; with
  ``"fail"`` it counts as failing, except when the source was unreachable (watch never
  rolls back because it cannot see);
* after a rollback no second one is requested until ``success_limit`` passes in a row
  (the previous release must first be seen healthy): no rollback loop.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from slo.evaluation import describe, number, percent
from slo.objectives import PROMQL_KINDS, ErrorRatioObjective, LatencyObjective, Objective

__all__ = [
    "Action",
    "Analysis",
    "AnalysisPolicy",
    "Decision",
    "IntervalFigures",
    "IntervalStatus",
    "Judgement",
    "NoDataPolicy",
    "Status",
    "WatchedObjective",
    "allowed_bad_share",
    "judge",
    "needed_events",
    "no_data",
    "split_watched",
]

WatchedObjective = LatencyObjective | ErrorRatioObjective
Status = Literal["pass", "fail", "no_data"]
IntervalStatus = Literal["pass", "fail", "no_data", "unreachable"]
Action = Literal["keep_watching", "rollback", "healthy"]
NoDataPolicy = Literal["hold", "fail"]


@dataclass(frozen=True)
class AnalysisPolicy:
    """How often to judge, over what window, and how sure to be before rolling back."""

    interval_s: float = 2.0
    window_s: float = 10.0
    failure_limit: int = 2
    """Failing intervals (without ``success_limit`` passes in between) that make a breach
    certain: 2 rolls a sustained breach back at the second interval that sees it."""
    success_limit: int = 2
    """Passing intervals in a row that clear the failing streak and declare healthy."""
    min_samples: int = 20
    """Events in the window below which an objective has no data."""
    on_no_data: NoDataPolicy = "hold"

    def __post_init__(self) -> None:
        if not self.interval_s > 0:
            raise ValueError(f"interval_s: must be positive, got {self.interval_s:g}")
        if not self.window_s >= self.interval_s:
            raise ValueError(
                f"window_s: must be at least the interval ({self.interval_s:g} s), got "
                f"{self.window_s:g} s: requests between two windows would never be judged"
            )
        for name in ("failure_limit", "success_limit", "min_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if self.on_no_data not in ("hold", "fail"):
            raise ValueError(f"on_no_data: must be hold or fail, got {self.on_no_data!r}")


@dataclass(frozen=True)
class IntervalFigures:
    """One objective's trailing window: its events and how many of them were bad
    (slower than the threshold for latency, failed for an error ratio)."""

    events: float
    bad: float


@dataclass(frozen=True)
class Judgement:
    """One objective over one window: pass, fail or no data, with the burn rate."""

    slo_id: str
    status: Status
    reason: str
    burn_rate: float | None = None
    events: float | None = None
    bad: float | None = None

    def to_dict(self) -> dict[str, Any]:
        burn = self.burn_rate
        return {
            "slo_id": self.slo_id, "status": self.status, "reason": self.reason,
            "burn_rate": None if burn is None or math.isinf(burn) else burn,
            "events": self.events, "bad": self.bad,
        }  # fmt: skip


@dataclass(frozen=True)
class Decision:
    """What one interval decided, and the streaks after it."""

    at: float
    action: Action
    interval: IntervalStatus
    reason: str
    failures: int
    successes: int
    judgements: tuple[Judgement, ...] = ()
    unreachable_intervals: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at, "action": self.action, "interval": self.interval,
            "reason": self.reason, "failures": self.failures, "successes": self.successes,
            "unreachable_intervals": self.unreachable_intervals,
            "judgements": [j.to_dict() for j in self.judgements],
        }  # fmt: skip


def split_watched(
    objectives: Iterable[Objective],
) -> tuple[tuple[WatchedObjective, ...], tuple[tuple[Objective, str], ...]]:
    """The objectives a watch can judge from PromQL, and the others with why not."""
    watched: list[WatchedObjective] = []
    skipped: list[tuple[Objective, str]] = []
    for objective in objectives:
        if objective.kind not in PROMQL_KINDS:
            skipped.append((objective, f"{objective.kind}: no PromQL SLI"))
        elif objective.during == "faults":
            skipped.append((objective, "during: faults: judged inside fault windows only"))
        else:
            assert isinstance(objective, LatencyObjective | ErrorRatioObjective)
            watched.append(objective)
    return tuple(watched), tuple(skipped)


def allowed_bad_share(objective: WatchedObjective) -> float:
    """The share of bad events the objective tolerates: ``1 - percentile/100`` of the
    requests may be slower than a latency threshold; ``max`` of them may fail."""
    if isinstance(objective, LatencyObjective):
        return max(0.0, 1 - objective.percentile / 100)
    return objective.max_ratio


def needed_events(objective: WatchedObjective, min_samples: int) -> int:
    """Events a window needs to be judged: ``min_samples``, and at least enough to hold
    one tolerated bad event (100 for a p99). Below that a single slow request would read
    as a breach: too few events to tell a blip from a breach."""
    allowed = allowed_bad_share(objective)
    if allowed <= 0:
        return min_samples  # nothing tolerated: any bad event is a breach, by definition
    return max(min_samples, math.ceil(1 / allowed - 1e-9))


def judge(
    objective: WatchedObjective, figures: IntervalFigures | None, min_samples: int
) -> Judgement:
    """One objective over one trailing window: fail when its burn rate (bad share /
    allowed share) is above 1, i.e. the SLO is breached over the window."""
    if figures is None:
        return no_data(objective, "no data in the window")
    needed = needed_events(objective, min_samples)
    what = _events_word(objective)
    if not figures.events >= needed:  # NaN too
        return no_data(
            objective,
            f"{number(figures.events)} {what} to {describe(objective.endpoint)} in the window, "
            f"fewer than the {needed} needed",
            figures,
        )
    share = min(1.0, max(0.0, figures.bad / figures.events))
    allowed = allowed_bad_share(objective)
    burn = share / allowed if allowed > 0 else (math.inf if share > 0 else 0.0)
    status: Status = "fail" if burn > 1 else "pass"
    reason = (
        f"{_rule(objective)}: {percent(share)} of {number(figures.events)} {what} "
        f"{_bad_word(objective)} ({percent(allowed)} allowed): burn rate {_burn(burn)}"
    )
    return Judgement(objective.id, status, reason, burn, figures.events, figures.bad)


def no_data(
    objective: WatchedObjective, why: str, figures: IntervalFigures | None = None
) -> Judgement:
    """A judgement with nothing to judge: never a pass."""
    events = None if figures is None else figures.events
    bad = None if figures is None else figures.bad
    return Judgement(objective.id, "no_data", f"no data: {why}", None, events, bad)


def _rule(objective: WatchedObjective) -> str:
    where = describe(objective.endpoint)
    if isinstance(objective, LatencyObjective):
        return f"p{number(objective.percentile)} of {where} < {number(objective.threshold_ms)} ms"
    return f"error ratio of {where} <= {percent(objective.max_ratio)}"


def _events_word(objective: WatchedObjective) -> str:
    return "successful requests" if isinstance(objective, LatencyObjective) else "requests"


def _bad_word(objective: WatchedObjective) -> str:
    if isinstance(objective, LatencyObjective):
        return f"slower than {number(objective.threshold_ms)} ms"
    return "failed"


def _burn(burn: float) -> str:
    return "infinite (nothing tolerated)" if math.isinf(burn) else number(burn)


class Analysis:
    """The decision state machine; feed it one interval at a time, in time order."""

    def __init__(self, policy: AnalysisPolicy) -> None:
        self.policy = policy
        self.failures = 0
        self.successes = 0
        self.unreachable = 0
        self.armed = True
        """False after a rollback until ``success_limit`` passes in a row."""

    def observe(
        self, at: float, judgements: Sequence[Judgement], *, unreachable: str | None = None
    ) -> Decision:
        """Decide at ``at`` from this interval's judgements (one per watched objective).
        ``unreachable`` says why the source could not be read at all: the interval is
        then held whatever ``on_no_data`` says."""
        judged = tuple(judgements)
        if unreachable is not None:
            return self._unreachable(at, judged, unreachable)
        self.unreachable = 0
        failing = [j for j in judged if j.status == "fail"]
        missing = [j for j in judged if j.status == "no_data"]
        if self.policy.on_no_data == "fail":
            failing += missing
        if failing:
            return self._fail(at, judged, failing)
        if missing or not judged:
            why = "; ".join(f"{j.slo_id}: {j.reason}" for j in missing) or "nothing to judge"
            return self._decide(at, "keep_watching", "no_data", judged,
                                f"{why} (held: {self._streaks()})")  # fmt: skip
        return self._pass(at, judged)

    def _fail(
        self, at: float, judged: tuple[Judgement, ...], failing: Sequence[Judgement]
    ) -> Decision:
        self.failures += 1
        self.successes = 0
        limit = self.policy.failure_limit
        what = "; ".join(f"{j.slo_id}: {j.reason}" for j in failing)
        streak = f"{self.failures} failing interval(s) of {limit} (window {self._window()})"
        if self.failures < limit:
            return self._decide(at, "keep_watching", "fail", judged, f"{what} [{streak}]")
        if not self.armed:
            why = (
                f"{what} [{streak}; already rolled back: no second rollback before "
                f"{self.policy.success_limit} passing intervals in a row]"
            )
            return self._decide(at, "keep_watching", "fail", judged, why)
        self.armed = False
        reason = f"SLO breach certain: {what} [{streak}]"
        return self._decide(at, "rollback", "fail", judged, reason)

    def _pass(self, at: float, judged: tuple[Judgement, ...]) -> Decision:
        self.successes += 1
        limit = self.policy.success_limit
        if self.successes < limit:
            why = f"every watched SLO passes ({self.successes} of {limit} in a row)"
            return self._decide(at, "keep_watching", "pass", judged, why)
        self.failures = 0
        self.armed = True
        why = f"healthy: every watched SLO passed {self.successes} intervals in a row"
        return self._decide(at, "healthy", "pass", judged, why)

    def _unreachable(self, at: float, judged: tuple[Judgement, ...], why: str) -> Decision:
        self.unreachable += 1
        count = self.unreachable
        reason = f"source unreachable: {why} (held: {self._streaks()})"
        if count >= self.policy.failure_limit:
            reason = (
                f"source unreachable for {count} intervals in a row: {why}; nothing is "
                "judged and nothing is rolled back while it cannot be read"
            )
        return self._decide(at, "keep_watching", "unreachable", judged, reason)

    def _decide(
        self,
        at: float,
        action: Action,
        interval: IntervalStatus,
        judged: tuple[Judgement, ...],
        reason: str,
    ) -> Decision:
        return Decision(at, action, interval, reason, self.failures, self.successes, judged,
                        self.unreachable)  # fmt: skip

    def _streaks(self) -> str:
        return f"failing streak {self.failures}, passing streak {self.successes}"

    def _window(self) -> str:
        return f"{number(self.policy.window_s)} s"
