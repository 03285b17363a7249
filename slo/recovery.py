"""The ``recovery`` objective: after each fault, how long until the endpoint was healthy again.

Pure. For every fault episode (overlapping windows taken together) a window of
``objective.window_s`` slides, one interval at a time, over the seconds after the fault
ended; the system has recovered at the start of the first window whose requests (at
least ``objective.min_requests``) meet every steady-state objective the recovery returns
to. The worst episode is judged against the threshold. A fault whose aftermath was too
short to tell (the next fault, or the end of the load, came first) is inconclusive,
never a pass; one that was watched long enough and never recovered fails.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from slo.evaluation import Evaluation, Result, number
from slo.objectives import ErrorRatioObjective, LatencyObjective, RecoveryObjective
from slo.stats import RunStats
from slo.timeline import Episode, Second, Timeline, episodes, window_stats

__all__ = ["EpisodeRecovery", "evaluate_recovery", "recoveries"]

SCAN_FACTOR = 10
"""How far past the threshold (times the threshold) a recovery is searched for."""

Steady = Sequence[LatencyObjective | ErrorRatioObjective]


@dataclass(frozen=True)
class EpisodeRecovery:
    """One fault episode's recovery: ``seconds`` after its end, or None (not seen).

    ``watched_s`` is how long after the fault the run went on (to the next fault or the
    end of the load), as far as it was searched.
    """

    episode: Episode
    seconds: float | None
    watched_s: float


def evaluate_recovery(objective: RecoveryObjective, steady: Steady, stats: RunStats) -> Evaluation:
    """Judge ``objective`` (see the module docstring)."""
    threshold_s = objective.threshold_ms / 1000
    result = _result(objective, stats)
    if not stats.faults_known:
        return result.inconclusive("the run's fault windows are unknown: recovery cannot be timed")
    if not stats.faults:
        return result.not_applicable("no fault in this run: nothing to recover from")
    if stats.timeline is None:
        return result.inconclusive("no per-interval latency recorded: recovery cannot be timed")
    found = recoveries(objective, steady, stats.timeline, stats)
    never = [
        r for r in found if r.seconds is None and r.watched_s >= threshold_s + objective.window_s
    ]
    unknown = [r for r in found if r.seconds is None and r not in never]
    timed = [r for r in found if r.seconds is not None]
    detail = ", ".join(_describe(r) for r in found)
    limit = f"threshold {number(threshold_s)} s"
    if never:
        return result.failed_unmeasured(f"{detail} ({limit})")
    worst = max((r.seconds for r in timed if r.seconds is not None), default=None)
    if worst is not None and worst >= threshold_s:
        return result.failed(worst * 1000, f"{detail}; worst {number(worst)} s ({limit})")
    if unknown:
        return result.inconclusive(f"{detail}: too little time after the fault to tell ({limit})")
    assert worst is not None
    return result.passed(
        worst * 1000, f"{detail}; worst {number(worst)} s, under {number(threshold_s)} s"
    )


def recoveries(
    objective: RecoveryObjective, steady: Steady, timeline: Timeline, stats: RunStats
) -> list[EpisodeRecovery]:
    """Each fault episode's recovery, in time order (watched until the load ended)."""
    spans = episodes(stats.faults)
    recorded = timeline.of(objective.endpoint)
    load_end = stats.load_end
    if load_end is None:
        load_end = max((s.t + s.interval_s for s in recorded), default=0.0)
    limit_s = max(SCAN_FACTOR * objective.threshold_ms / 1000, 60.0)
    found = []
    for i, episode in enumerate(spans):
        cutoff = spans[i + 1].start if i + 1 < len(spans) else load_end
        cutoff = min(cutoff, episode.end + limit_s + objective.window_s)
        found.append(_recovery(objective, steady, timeline, episode, cutoff))
    return found


def _recovery(
    objective: RecoveryObjective,
    steady: Steady,
    timeline: Timeline,
    episode: Episode,
    cutoff: float,
) -> EpisodeRecovery:
    watched = max(0.0, cutoff - episode.end)
    after = {
        endpoint: [
            s for s in timeline.of(endpoint) if s.t + s.interval_s > episode.end and s.t < cutoff
        ]
        for endpoint in {o.endpoint for o in steady}
    }
    starts = sorted({s.t for seconds in after.values() for s in seconds})
    for start in starts:
        if start + objective.window_s > cutoff + 1e-9:
            break
        if all(_healthy(o, timeline, after[o.endpoint], start, objective) for o in steady):
            return EpisodeRecovery(episode, max(0.0, start - episode.end), watched)
    return EpisodeRecovery(episode, None, watched)


def _healthy(
    objective: LatencyObjective | ErrorRatioObjective,
    timeline: Timeline,
    seconds: Sequence[Second],
    start: float,
    recovery: RecoveryObjective,
) -> bool:
    window = [s for s in seconds if start <= s.t < start + recovery.window_s]
    figures = window_stats(timeline, objective.endpoint, window)
    if figures.requests < recovery.min_requests:
        return False
    if isinstance(objective, LatencyObjective):
        observed = figures.latency.value_at_percentile(objective.percentile)
        return math.isfinite(observed) and observed < objective.threshold_ms
    return figures.failures / figures.requests <= objective.max_ratio


def _describe(recovery: EpisodeRecovery) -> str:
    name = recovery.episode.name
    if recovery.seconds is not None:
        return f"{name} recovered in {number(recovery.seconds)} s"
    return f"{name} not recovered in the {number(recovery.watched_s)} s watched after it"


def _result(objective: RecoveryObjective, stats: RunStats) -> Result:
    requests = (
        sum(s.requests for s in stats.timeline.of(objective.endpoint)) if stats.timeline else 0
    )
    return Result(objective, unit="ms", threshold=objective.threshold_ms, samples=requests)
