"""The gate's Prometheus source: the plan's request SLOs judged from PromQL over the run.

For each objective the gate reads from Prometheus (``source: prometheus``, or any
latency / error-ratio objective when the gate is given ``--prometheus-url``), three
instant queries at the end of the run's load window, over a range equal to that
window, with the expressions of the generated recording rules (``slo.promql``):
the SLI's events, the SLI itself (slow or failed share) and, for latency,
``histogram_quantile`` of the same buckets. The figures become a ``RunStats`` and go
through the same judge as the run directory's own (``slo.evaluate``): the gate stays
the one author of the verdict. Docs: docs/promql-gate.md.

Never a pass without data: an empty result, NaN, zero traffic, a refused query or an
unreachable server makes the objective inconclusive, with the reason; unreachable
also makes the verdict exit 3 unless it failed anyway (``PromOutcome.settle``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import httpx

from collectors.summary import LoadWindow
from rollout.promql import DEFAULT_TIMEOUT_S, PromClient, QueryRejected
from slo.conventions import METRIC_CLIENT_LATENCY
from slo.errors import InfraError, UsageError
from slo.evaluate import evaluate
from slo.evaluation import Evaluation, Result, describe, number, percent
from slo.exitcodes import ExitCode
from slo.objectives import PROMQL_KINDS, ErrorRatioObjective, LatencyObjective, Objective
from slo.plan import Plan
from slo.promql import RatioSli, error_ratio_sli, events_expr, latency_sli, quantile_expr, sli_expr
from slo.stats import EndpointStats, RunStats
from slo.verdict import Status, Verdict

__all__ = ["CLIENT", "PROMETHEUS", "PromOutcome", "PromSource", "from_prometheus", "routed"]

CLIENT = "client"
PROMETHEUS = "prometheus"

RequestObjective = LatencyObjective | ErrorRatioObjective


@dataclass(frozen=True)
class PromSource:
    """Where the gate queries: a URL already checked by ``rollout.promql.prometheus_url``."""

    url: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    transport: httpx.BaseTransport | None = None
    only_marked: bool = False
    """Read only the objectives marked ``source: prometheus`` (a rehearsal's own
    Prometheus); otherwise every latency and error-ratio objective without a source."""


@dataclass(frozen=True)
class PromOutcome:
    """The evaluations with the Prometheus ones in place, and where each came from.

    ``sources`` maps every SLO id to ``client`` or ``prometheus``; it is empty when no
    objective was routed to Prometheus (the verdict files then stay as they were).
    """

    evaluations: tuple[Evaluation, ...]
    sources: Mapping[str, str] = field(default_factory=dict)
    unreachable: str | None = None

    def settle(self, verdict: Verdict) -> Verdict:
        """An unreachable Prometheus is an infrastructure failure (exit 3) unless the run
        failed anyway: a known breach outranks an unknown figure."""
        if self.unreachable is None or verdict.status is Status.FAIL:
            return verdict
        why = f"{self.unreachable}: SLOs read from Prometheus are inconclusive (exit 3)"
        return Verdict(
            Status.INCONCLUSIVE, int(ExitCode.INFRA), verdict.evaluations,
            (why, *verdict.reasons),
        )  # fmt: skip


def routed(objective: Objective, source: PromSource | None) -> bool:
    """Whether the gate reads ``objective`` from Prometheus."""
    if objective.source is not None:
        return objective.source == PROMETHEUS
    return source is not None and not source.only_marked and objective.kind in PROMQL_KINDS


def from_prometheus(
    plan: Plan,
    stats: RunStats,
    window: LoadWindow | None,
    evaluations: Sequence[Evaluation],
    source: PromSource | None,
) -> PromOutcome:
    """``evaluations`` (the run directory's) with every routed objective re-judged from
    Prometheus, in place."""
    objectives = [o for o in plan.slos.objectives if routed(o, source)]
    if not objectives:
        return PromOutcome(tuple(evaluations))
    judge = _Judge(plan, stats, window)
    found: dict[str, Evaluation] = {}
    if source is None:
        for objective in objectives:
            found[objective.id] = _result(objective).inconclusive(
                "the plan reads this SLO from Prometheus (source: prometheus) but the gate "
                "was given no --prometheus-url"
            )
    else:
        with PromClient(source.url, timeout_s=source.timeout_s, transport=source.transport) as c:
            for objective in objectives:
                assert isinstance(objective, LatencyObjective | ErrorRatioObjective)
                found[objective.id] = judge.one(objective, c)
    merged = tuple(found.get(e.slo_id, e) for e in evaluations)
    sources = {e.slo_id: PROMETHEUS if e.slo_id in found else CLIENT for e in merged}
    return PromOutcome(merged, sources, judge.unreachable)


def _result(objective: Objective) -> Result:
    if isinstance(objective, LatencyObjective):
        return Result(objective, unit="ms", threshold=objective.threshold_ms, samples=0)
    assert isinstance(objective, ErrorRatioObjective)
    return Result(objective, unit="ratio", threshold=objective.max_ratio, samples=0)


class _NoData(Exception):
    """A query gave nothing to judge; ``str()`` says why."""


@dataclass(frozen=True)
class _Latency:
    """The ``LatencyDistribution`` the judge reads: Prometheus' quantile for one percentile."""

    percentile: float
    value_ms: float
    count: int

    def value_at_percentile(self, percentile: float) -> float:
        assert percentile == self.percentile, "queried for one percentile only"
        return self.value_ms

    @property
    def total_count(self) -> int:
        return self.count


class _Judge:
    """Queries one objective's figures and hands them to ``slo.evaluate``."""

    def __init__(self, plan: Plan, stats: RunStats, window: LoadWindow | None) -> None:
        self.plan, self.stats, self.window = plan, stats, window
        self.unreachable: str | None = None

    def one(self, objective: RequestObjective, client: PromClient) -> Evaluation:
        result = _result(objective)
        if self.unreachable is not None:
            return result.inconclusive(f"from Prometheus: {self.unreachable}")
        skip = self._phase(objective)
        if skip is not None:
            return skip
        window = self.window
        assert window is not None
        try:
            sli = latency_sli(objective) if isinstance(objective, LatencyObjective) else (
                error_ratio_sli(objective))  # fmt: skip
            figures, bad_share = self._figures(objective, sli, client, window)
        except UsageError:  # a latency threshold off the bucket boundaries
            return result.inconclusive(
                f"from Prometheus: threshold {number(result.threshold)} ms is not a bucket "
                f"boundary of {METRIC_CLIENT_LATENCY}: its buckets cannot tell"
            )
        except InfraError as err:
            self.unreachable = str(err)
            return result.inconclusive(f"from Prometheus: {err}")
        except (QueryRejected, _NoData) as err:
            return result.inconclusive(f"from Prometheus: {err}")
        stats = replace(self.stats, endpoints={objective.endpoint: figures},
                        elapsed_s=window.elapsed_s, timeline=None)  # fmt: skip
        judged = evaluate([objective.model_copy(update={"during": "all"})], stats,
                          default_min_samples=self.plan.slos.min_samples)[0]  # fmt: skip
        span = f"{number(window.elapsed_s)} s to {_iso(window.end)}"
        reason = f"from Prometheus ({span}): {judged.reason}"
        if isinstance(objective, LatencyObjective) and judged.status is not Status.INCONCLUSIVE:
            slower = f"{number(objective.threshold_ms)} ms"
            reason += f" ({percent(bad_share)} slower than {slower})"
        return replace(judged, reason=reason)

    def _phase(self, objective: RequestObjective) -> Evaluation | None:
        """Why the objective cannot be read as one range query, as an evaluation."""
        result = _result(objective)
        window = self.window
        if window is None or window.elapsed_s <= 0:
            return result.inconclusive(
                "from Prometheus: the run's load window is unknown (no load_started in "
                "events.jsonl): there is no range to query"
            )
        if objective.during == "all" or not self.stats.faults_known:
            return None  # unknown fault windows: the judge says so, as for the client side
        if objective.during == "faults" and not self.stats.faults:
            return result.not_applicable(
                "from Prometheus: no fault window in this run: nothing to judge during faults"
            )
        if objective.during == "faults" or self.stats.faults:
            phase = "fault windows" if objective.during == "faults" else "steady state"
            return result.inconclusive(
                f"from Prometheus: during: {objective.during} needs the run's {phase} apart "
                "from the rest, which one range query over the run cannot express; judge it "
                "from the run directory (source: client)"
            )
        return None  # steady state of a run without faults: the whole run

    def _figures(
        self, objective: RequestObjective, sli: RatioSli, client: PromClient, window: LoadWindow
    ) -> tuple[EndpointStats, float]:
        """The endpoint's figures for the judge, and the SLI (the slow or failed share)."""
        at, span = window.end, f"{max(1, round(window.elapsed_s * 1000))}ms"
        where = describe(objective.endpoint)
        events = _one(client, events_expr(sli, span), at)
        if events <= 0:
            what = "successful requests" if isinstance(objective, LatencyObjective) else "requests"
            raise _NoData(f"zero traffic: Prometheus counted no {what} to {where} in the window")
        bad_share = _one(client, sli_expr(sli, span, "increase"), at)
        requests = max(1, round(events))
        if isinstance(objective, ErrorRatioObjective):
            bad = bad_share * events
            failures = max(round(bad), 1 if bad > 0 else 0)  # a failure seen is never 0
            no_latency = _Latency(0.0, math.nan, requests)
            return EndpointStats(objective.endpoint, requests, min(failures, requests),
                                 no_latency), bad_share  # fmt: skip
        quantile = _one(client, quantile_expr(objective.percentile / 100, sli, span), at)
        latency = _Latency(objective.percentile, quantile * 1000, requests)
        return EndpointStats(objective.endpoint, requests, 0, latency), bad_share


def _one(client: PromClient, query: str, at: float) -> float:
    """The single value ``query`` evaluates to; ``_NoData`` when empty or NaN."""
    samples = client.instant(query, at)
    flat = " ".join(query.split())
    if not samples:
        raise _NoData(
            f"empty result for `{flat}`: no such series over the run's window (was the "
            "load process a scrape target of this Prometheus?)"
        )
    if len(samples) > 1:
        raise _NoData(f"{len(samples)} series for `{flat}`, expected one")
    value = samples[0].value
    if math.isnan(value):
        raise _NoData(f"NaN for `{flat}`: nothing to divide by, or a NaN sample")
    return value


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")
