"""The watch loop replayed over recorded series on a fake clock, and its Prometheus source.

The replay (``Flapping``, ``record``, ``Replay``) models, second by second and from a
seed, a healthy OMS endpoint at peak that flaps, as Prometheus would have scraped it:

* traffic: Poisson arrivals around 400 requests/s with a slow +-20 % swing (5 minutes);
  0.1 % of successful requests are slower than the threshold and 0.05 % fail: a tenth
  and a twentieth of the p99 < 250 ms and 1 % error budgets;
* latency spikes and error bursts: every 20-90 s (independently), 2 s in which
  1.5-2 % of the requests are slow (or fail). A spike breaks the SLO in the 2 s
  interval that holds it (asserted on the recording: ``_over_budget_intervals``), but
  spends under half of a 10 s window's budget: the SLO holds over the window, so a
  rollback would be false;
* bursts of low traffic: every 1-4 minutes, 5-30 s at 50-70 % of the traffic, entered
  and left over 5 s ramps;
* missing scrapes: one scrape lost every 30-120 s.

Window figures are the increase between the first and last scrape inside the window
(Prometheus' ``increase`` without its extrapolation). A sustained breach is the same
recording with every second from ``breach_at`` on degraded and no lull or lost scrape
from 15 s before it. Time is the fake clock's: no test sleeps or reads the wall clock.

Not modelled, because the window cannot absorb them: traffic collapsing within a
second (a spike then weighs on a few seconds of traffic) and a scrape gap of several
seconds (the window then holds a few seconds of scrapes): see docs/rollback.md.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import accumulate

import httpx
import pytest

from rollout.analysis import AnalysisPolicy, Decision, IntervalFigures, WatchedObjective
from rollout.promql import PromClient
from rollout.rollback_action import RollbackDone
from rollout.watch import NoWindow, PromWindows, WatchOutcome, watch
from slo.errors import InfraError, RevertError
from slo.objectives import ErrorRatioObjective, LatencyObjective
from slo.promql import error_ratio_sli, events_expr, latency_sli, sli_expr

LATENCY = LatencyObjective.model_validate(
    {"id": "place-p99", "endpoint": "POST /orders", "percentile": 99, "threshold": "250ms"}
)
ERRORS = ErrorRatioObjective.model_validate({"id": "errors", "max": 0.01})
OBJECTIVES: tuple[WatchedObjective, ...] = (LATENCY, ERRORS)
POLICY = AnalysisPolicy()  # 2 s interval, 10 s window, 2 failures, 2 successes, hold
START = 30.0  # the watch starts 30 s into the recording


@dataclass(frozen=True)
class Flapping:
    """The seeded model of the module docstring; ``breach_*`` degrade it for good."""

    seconds: int = 600
    rate: float = 400.0
    slow: float = 0.001
    failed: float = 0.0005
    spike_gap: tuple[float, float] = (20.0, 90.0)
    spike_share: tuple[float, float] = (0.015, 0.02)
    lull_gap: tuple[float, float] = (60.0, 240.0)
    lull_level: tuple[float, float] = (0.5, 0.7)
    breach_at: int | None = None
    breach_slow: float = 0.0
    breach_failed: float = 0.0


@dataclass
class Recording:
    """Per-second counts (``requests[t]``: requests in [t, t + 1)) and which scrapes,
    at whole seconds, Prometheus has (a scrape at t holds the counts before t)."""

    requests: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    slow: list[int] = field(default_factory=list)
    scraped: list[bool] = field(default_factory=list)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:  # normal approximation: exact enough at this size, and fast
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k, product = k + 1, product * rng.random()
    return k


def _bad(rng: random.Random, n: int, share: float) -> int:
    """How many of ``n`` requests are bad at ``share`` (binomial, approximated)."""
    mean = n * share
    if mean > 30:
        return min(n, max(0, round(rng.gauss(mean, math.sqrt(mean * (1 - share))))))
    return min(n, _poisson(rng, mean))


def _episodes(
    rng: random.Random, gap: tuple[float, float], length: tuple[int, int], seconds: int
) -> Iterator[tuple[int, int]]:
    t = rng.uniform(*gap)
    while t < seconds:
        start = int(t)
        yield start, start + rng.randint(*length)
        t += rng.uniform(*gap)


def _shape(model: Flapping, rng: random.Random) -> tuple[list[float], list[float], list[float]]:
    """Traffic level and the slow and failed shares, per second."""
    n, phase = model.seconds, rng.uniform(0, 2 * math.pi)
    level = [1 + 0.2 * math.sin(2 * math.pi * t / 300 + phase) for t in range(n)]
    slow, failed = [model.slow] * n, [model.failed] * n
    calm = n if model.breach_at is None else model.breach_at - 15
    for begin, end in _episodes(rng, model.lull_gap, (5, 30), calm):
        if end + 5 > calm:
            continue
        low = rng.uniform(*model.lull_level)
        for t in range(max(0, begin - 5), min(n, end + 5)):
            ramp = min(1.0, (t - begin + 5) / 5, (end + 5 - t) / 5)
            level[t] *= 1 - (1 - low) * ramp
    for shares in (slow, failed):
        for begin, end in _episodes(rng, model.spike_gap, (2, 2), n):
            share = rng.uniform(*model.spike_share)
            for t in range(begin, min(n, end)):
                shares[t] = share
    if model.breach_at is not None:
        for t in range(model.breach_at, n):
            slow[t] = max(slow[t], model.breach_slow)
            failed[t] = max(failed[t], model.breach_failed)
    return level, slow, failed


def record(seed: int, model: Flapping = Flapping()) -> Recording:
    """The recording of ``model`` from ``seed`` (see the module docstring)."""
    rng = random.Random(seed)
    level, slow_share, failed_share = _shape(model, rng)
    out = Recording()
    for t in range(model.seconds):
        requests = _poisson(rng, model.rate * level[t])
        failed = _bad(rng, requests, failed_share[t])
        out.requests.append(requests)
        out.failed.append(failed)
        out.slow.append(_bad(rng, requests - failed, slow_share[t]))
    out.scraped = [True] * (model.seconds + 1)
    calm = model.seconds if model.breach_at is None else model.breach_at - 15
    for begin, _end in _episodes(rng, (30.0, 120.0), (1, 1), calm):
        out.scraped[begin] = False
    return out


class Replay:
    """A ``WindowSource`` over a recording: the increase between the first and last
    scrape inside [end - window, end]."""

    def __init__(self, recording: Recording) -> None:
        self.scraped = recording.scraped
        ok = [r - f for r, f in zip(recording.requests, recording.failed, strict=True)]
        self.series = {
            "requests": [0, *accumulate(recording.requests)],
            "failed": [0, *accumulate(recording.failed)],
            "ok": [0, *accumulate(ok)],
            "slow": [0, *accumulate(recording.slow)],
        }

    def scrapes(self, end_ts: float, window_s: float) -> list[int]:
        first = max(0, math.ceil(end_ts - window_s - 1e-9))
        last = min(len(self.scraped) - 1, math.floor(end_ts + 1e-9))
        return [t for t in range(first, last + 1) if self.scraped[t]]

    def figures(
        self, objective: WatchedObjective, end_ts: float, window_s: float
    ) -> IntervalFigures | None:
        present = self.scrapes(end_ts, window_s)
        if len(present) < 2:
            return None
        events, bad = ("ok", "slow") if isinstance(objective, LatencyObjective) else (
            "requests", "failed")  # fmt: skip
        a, b = present[0], present[-1]
        return IntervalFigures(
            self.series[events][b] - self.series[events][a],
            self.series[bad][b] - self.series[bad][a],
        )


class FakeClock:
    """Time that passes only when the loop sleeps (or a query is made slow on purpose)."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Recorder:
    """A ``RollbackAction`` that remembers what it was asked."""

    target = "the recorded release"

    def __init__(self, done: RollbackDone | Exception | None = None) -> None:
        self.done = done or RollbackDone("rolled_back", "2", "1", "rolled back from 2 to 1")
        self.reasons: list[tuple[str, str]] = []

    def matches(self, labels: object) -> bool:
        return False

    def current_revision(self) -> str | None:
        return "2"

    def rollback(self, reason: str, *, source: str) -> RollbackDone:
        self.reasons.append((reason, source))
        if isinstance(self.done, Exception):
            raise self.done
        return self.done


def replay(
    recording: Recording, *, policy: AnalysisPolicy = POLICY, action: Recorder | None = None
) -> tuple[WatchOutcome, list[Decision]]:
    clock, decisions = FakeClock(START), list[Decision]()
    duration = len(recording.requests) - START - 1
    outcome = watch(
        OBJECTIVES, Replay(recording), policy, duration_s=duration, clock=clock,
        sleep=clock.sleep, on_decision=decisions.append, action=action or Recorder(),
    )  # fmt: skip
    return outcome, decisions


def _over_budget_intervals(recording: Recording) -> int:
    """2 s intervals whose own slow or failed share breaks the SLO (1 %)."""
    found = 0
    for t in range(0, len(recording.requests) - 1, 2):
        requests = sum(recording.requests[t : t + 2])
        failed = sum(recording.failed[t : t + 2])
        slow = sum(recording.slow[t : t + 2])
        found += failed > 0.01 * requests or slow > 0.01 * (requests - failed)
    return found


def test_a_flapping_healthy_service_is_never_rolled_back_over_100_seeds() -> None:
    rollbacks, flaps, intervals = [], 0, 0
    for seed in range(100):
        recording = record(seed)
        outcome, _decisions = replay(recording)
        if outcome.ending != "watched":
            rollbacks.append((seed, outcome.decision))
        flaps += _over_budget_intervals(recording)
        intervals += outcome.intervals
    assert rollbacks == []
    assert intervals == 100 * 285  # every tick of 30 s .. 599 s was judged
    assert flaps >= 100 * 10, "the model must really flap: intervals over budget"


def test_the_flaps_are_real_breaches_of_their_own_interval() -> None:
    """A watch judging each 2 s interval alone (window = interval) would fail them."""
    alone = replace(POLICY, window_s=POLICY.interval_s)
    failed = [d for d in replay(record(7), policy=alone)[1] if d.interval == "fail"]
    assert failed, "a 2 s window sees the spikes as breaches"


def _visible(replayer: Replay, decisions: list[Decision], breach_at: int) -> int:
    """Index of the first decision whose window holds at least one second of breach."""
    for index, decision in enumerate(decisions):
        present = replayer.scrapes(decision.at, POLICY.window_s)
        if present and present[-1] >= breach_at + 1:
            return index
    raise AssertionError("the breach never became visible")


@pytest.mark.parametrize(
    ("degraded", "slow", "failed"),
    [("latency", 0.25, 0.0), ("errors", 0.0, 0.2), ("both", 0.25, 0.2)],
    ids=["a release with a quarter of its orders slow", "a release failing one order in five",
         "a release both slow and failing"],
)  # fmt: skip
def test_a_sustained_breach_rolls_back_within_two_intervals(
    degraded: str, slow: float, failed: float
) -> None:
    for seed in range(20):
        breach_at = 200 + 7 * seed  # tick-aligned or not: every offset in the interval
        model = Flapping(breach_at=breach_at, breach_slow=slow, breach_failed=failed)
        recording = record(seed, model)
        action = Recorder()
        outcome, decisions = replay(recording, action=action)
        assert outcome.ending == "breach", (seed, degraded)
        first = _visible(Replay(recording), decisions, breach_at)
        assert decisions[-1].action == "rollback"
        assert len(decisions) - 1 - first <= 1, (seed, [d.reason for d in decisions[first:]])
        assert len(action.reasons) == 1 and action.reasons[0][1] == "watch"


def test_a_breach_three_times_the_budget_rolls_back_once_the_window_shows_it() -> None:
    """3 % slow: a window breaches once a third of it is degraded; then two intervals."""
    for seed in range(20):
        model = Flapping(breach_at=301, breach_slow=0.03)
        outcome, _decisions = replay(record(seed, model))
        assert outcome.ending == "breach", seed
        assert outcome.decision is not None
        assert 301 < outcome.decision.at <= 301 + POLICY.window_s + 2 * POLICY.interval_s


class Scripted:
    """A ``WindowSource`` whose figures are a function of the tick (0, 1, 2, ...)."""

    def __init__(self, clock: FakeClock, script: dict[int, object], *, cost_s: float = 0.0):
        self.clock, self.script, self.cost_s = clock, script, cost_s
        self.start = clock.now

    def figures(
        self, objective: WatchedObjective, end_ts: float, window_s: float
    ) -> IntervalFigures | None:
        self.clock.now += self.cost_s
        what = self.script.get(round((end_ts - self.start) / POLICY.interval_s), "pass")
        if isinstance(what, Exception):
            raise what
        return {"pass": IntervalFigures(1000, 1), "fail": IntervalFigures(1000, 50),
                "none": None}[str(what)]  # fmt: skip


def run(
    script: dict[int, object],
    *,
    duration_s: float = 10.0,
    policy: AnalysisPolicy = POLICY,
    action: Recorder | None = None,
    cost_s: float = 0.0,
) -> tuple[WatchOutcome, list[Decision], FakeClock]:
    clock, decisions = FakeClock(1000.0), list[Decision]()
    source = Scripted(clock, script, cost_s=cost_s)
    outcome = watch((ERRORS,), source, policy, duration_s=duration_s, clock=clock,
                    sleep=clock.sleep, on_decision=decisions.append, action=action)  # fmt: skip
    return outcome, decisions, clock


def test_the_loop_judges_every_interval_of_the_duration_both_ends_included() -> None:
    outcome, decisions, clock = run({})
    assert (outcome.ending, outcome.intervals) == ("watched", 6)
    assert [d.at for d in decisions] == [1000.0, 1002.0, 1004.0, 1006.0, 1008.0, 1010.0]
    assert clock.slept == [2.0] * 5


def test_an_interval_slower_than_the_interval_skips_ticks_instead_of_bunching() -> None:
    _, decisions, clock = run({}, cost_s=3.0)
    assert [d.at for d in decisions] == [1000.0, 1004.0, 1008.0]
    assert clock.slept == [1.0, 1.0]


def test_a_source_unreachable_at_the_start_is_an_infrastructure_error() -> None:
    with pytest.raises(InfraError, match="connection refused"):
        run({0: InfraError("prometheus: connection refused")})


def test_a_source_unreachable_later_is_held_and_never_rolls_back() -> None:
    down = InfraError("prometheus: connection refused")
    fail_on_no_data = replace(POLICY, on_no_data="fail")
    outcome, decisions, _ = run({1: "fail", 2: down, 3: down, 4: down}, policy=fail_on_no_data,
                                action=Recorder())  # fmt: skip
    assert outcome.ending == "watched"
    assert [d.interval for d in decisions[2:5]] == ["unreachable"] * 3
    assert [d.failures for d in decisions[1:5]] == [1, 1, 1, 1]  # held, not counted
    assert "unreachable for 2 intervals in a row" in decisions[3].reason
    assert all(j.status == "no_data" and "connection refused" in j.reason
               for j in decisions[2].judgements)  # fmt: skip


def test_a_dry_run_decides_the_rollback_and_calls_nothing() -> None:
    outcome, decisions, _ = run({1: "fail", 2: "fail"})
    assert (outcome.ending, outcome.intervals, outcome.done) == ("breach", 3, None)
    assert outcome.decision is decisions[-1] and decisions[-1].action == "rollback"


@pytest.mark.parametrize(
    ("done", "ending"),
    [(None, "breach"), (RevertError("rollout did not complete"), "rollback_failed"),
     (RollbackDone("refused", None, None, "once per bad revision"), "rollback_refused")],
    ids=["rolled back", "the rollback failed", "the rollback was refused"],
)  # fmt: skip
def test_a_certain_breach_rolls_back_once_and_says_how_it_went(
    done: RollbackDone | Exception | None, ending: str
) -> None:
    action = Recorder(done)
    outcome, _, _ = run({0: "fail", 1: "fail", 2: "fail"}, action=action)
    assert outcome.ending == ending
    assert len(action.reasons) == 1
    reason, source = action.reasons[0]
    assert source == "watch" and "errors" in reason and "burn rate 5" in reason


def _prometheus(answers: dict[str, object], seen: list[httpx.Request]) -> PromClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        query = request.url.params["query"]
        value = answers["events" if query.startswith("sum(increase(") else "sli"]
        if value == "refused":
            return httpx.Response(400, json={"status": "error", "errorType": "bad_data",
                                             "error": "parse error"})  # fmt: skip
        result = [] if value is None else [{"metric": {}, "value": [0, str(value)]}]
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "vector", "result": result}}
        )

    return PromClient("http://127.0.0.1:9090", transport=httpx.MockTransport(handle))


@pytest.mark.parametrize("objective", OBJECTIVES, ids=["a latency SLO", "an error-ratio SLO"])
def test_prometheus_windows_use_the_gates_promql(objective: WatchedObjective) -> None:
    seen: list[httpx.Request] = []
    with _prometheus({"events": 1000, "sli": 0.03}, seen) as client:
        figures = PromWindows(client, OBJECTIVES).figures(objective, 1234.5, 10.0)
    assert figures is not None and figures.events == 1000
    assert figures.bad == pytest.approx(30)
    sli = latency_sli(LATENCY) if objective is LATENCY else error_ratio_sli(ERRORS)
    queries = [r.url.params["query"] for r in seen]
    assert queries == [events_expr(sli, "10000ms"), sli_expr(sli, "10000ms", "increase")]
    assert {r.url.params["time"] for r in seen} == {"1234.500"}


@pytest.mark.parametrize(
    ("answers", "expected"),
    [({"events": None, "sli": 0.1}, None), ({"events": 0, "sli": 0.1}, IntervalFigures(0, 0)),
     ({"events": 500, "sli": "NaN"}, "empty or NaN"), ({"events": 500, "sli": "refused"},
     "refused the query")],
    ids=["a series never scraped is no data", "no traffic is zero events",
         "a NaN share is no data, with why", "a refused query is no data, with why"],
)  # fmt: skip
def test_prometheus_windows_never_make_a_figure_up(
    answers: dict[str, object], expected: object
) -> None:
    with _prometheus(answers, []) as client:
        windows = PromWindows(client, OBJECTIVES)
        if isinstance(expected, str):
            with pytest.raises(NoWindow, match=expected):
                windows.figures(ERRORS, 1000.0, 10.0)
        else:
            assert windows.figures(ERRORS, 1000.0, 10.0) == expected


def test_a_latency_threshold_off_the_buckets_is_refused_naming_the_slo() -> None:
    odd = LATENCY.model_copy(update={"id": "odd", "threshold_ms": 300.0})
    with (
        _prometheus({}, []) as client,
        pytest.raises(Exception, match="SLO 'odd': threshold 300 ms"),
    ):
        PromWindows(client, (odd,))
