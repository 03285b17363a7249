"""Property tests: random histories from a simulated OMS whose ground truth is known.

The simulated OMS holds stock per SKU x location and applies each operation atomically
at a random instant inside [invoke, completion]. It refuses correctly, or (when told
to) oversells, refuses although stock remains, or applies a retried key a second time.
Some outcomes are reported as unknown (``info``), some of those are resolved at the end,
some operations never complete. Probes read the simulated truth exactly; views read it
as it was up to ``view_staleness_s`` earlier. The generator knows what a correct
checker must report, and the checker must report exactly that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.drift import DriftChecker, DriftConfig, DriftReport
from collectors.drift.stream import Source, merge_by_time
from slo.evaluate import Status, evaluate
from slo.objectives import ConvergenceLagObjective
from slo.stats import RunStats

Record = dict[str, Any]
STALENESS_MS = 2000
OFF = 1000  # how far off an injected bad observation is: beyond any possible widening
END_MS = 60_000  # end-of-run resolutions happen after every operation
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Op:
    id: str
    kind: str  # place | cancel
    sku: str
    requested: str | None
    qty: int
    invoke: int  # milliseconds
    done: int
    apply: int
    behaviour: str  # correct | oversell | refuse | duplicate (a retry applied again)
    report: str  # normal | info | resolved | never
    retry_of: Op | None = None
    key: str = ""
    applied: bool = False  # changed the stock
    location: str | None = None
    order_id: str | None = None
    cancels: Op | None = None


@dataclass
class World:
    """The simulated OMS and everything the generator knows about its history."""

    stock: dict[tuple[str, str], int]
    locations: dict[str, list[str]]
    changes: list[tuple[int, tuple[str, str], int]] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    false_sold_outs: int = 0
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # applied: (order, where)
    initial: dict[tuple[str, str], int] = field(default_factory=dict)

    def value(self, cell: tuple[str, str], at_ms: int) -> int:
        """The truth of ``cell`` at ``at_ms`` (applied changes up to and including it)."""
        return self.initial[cell] + sum(d for t, c, d in self.changes if c == cell and t <= at_ms)


# -- generating operations -----------------------------------------------------------------


@st.composite
def worlds(draw: st.DrawFn, *, exact: bool) -> World:
    """Cells with initial stock, and operations: sequential per SKU when ``exact``."""
    skus = [f"S{i}" for i in range(draw(st.integers(1, 3)))]
    locations = {sku: [f"L{j}" for j in range(draw(st.integers(1, 2)))] for sku in skus}
    stock = {(s, loc): draw(st.integers(0, 4)) for s in skus for loc in locations[s]}
    world = World(stock=dict(stock), locations=locations, initial=dict(stock))
    clock = dict.fromkeys(skus, 0)
    for i in range(draw(st.integers(0, 16))):
        sku = draw(st.sampled_from(skus))
        gap, span = draw(st.integers(1, 80)) * 10, draw(st.integers(1, 50)) * 10
        invoke = clock[sku] + gap if exact else draw(st.integers(0, 800)) * 10
        done = invoke + span
        if exact:
            clock[sku] = done
        apply = draw(st.integers(invoke + 1, done - 1))
        kinds = ["place", "place", "place", "cancel"]
        behaviours = ["correct", "oversell", "refuse", "duplicate"] if exact else ["correct"]
        reports = ["normal", "normal", "normal", "info", "resolved", "never"]
        world.ops.append(
            Op(f"op{i}", draw(st.sampled_from(kinds)), sku,
               draw(st.sampled_from([None, *locations[sku]])), draw(st.integers(1, 2)),
               invoke, done, apply, draw(st.sampled_from(behaviours)),
               draw(st.sampled_from(reports)))
        )  # fmt: skip
    places = [op for op in world.ops if op.kind == "place"]
    retries = {op.id for op in places if draw(st.booleans())}
    firsts = [op for op in places if op.id not in retries]
    for op in places:  # a retry reuses an earlier first attempt's key, and what it asked
        earlier = [o for o in firsts if o.sku == op.sku and o.done < op.invoke]
        if op.id in retries and earlier:
            op.retry_of = draw(st.sampled_from(earlier))
            op.qty, op.requested = op.retry_of.qty, op.retry_of.requested
    simulate(world, exact=exact)
    return world


def simulate(world: World, *, exact: bool) -> None:
    """Apply every operation at its instant, in instant order."""
    unsure: set[str] = set()  # SKUs with an earlier operation whose outcome is not known
    for op in sorted(world.ops, key=lambda o: o.apply):
        if op.kind == "cancel":
            cancel(world, op, exact=exact)
        else:
            place(world, op, sku_unsure=op.sku in unsure)
        if op.report != "normal":
            unsure.add(op.sku)
    world.ops = [op for op in world.ops if op.kind == "place" or op.cancels is not None]


def place(world: World, op: Op, *, sku_unsure: bool) -> None:
    op.key = op.retry_of.key if op.retry_of else f"key-{op.id}"
    done_before = world.keys.get(op.key)
    if done_before is not None:
        if op.behaviour != "duplicate":  # an idempotent replay: same order, no change
            op.order_id, op.location = done_before
            return
        op.behaviour = "oversell"  # the bug: the key applied again, whatever the stock
    cells = [op.requested] if op.requested else world.locations[op.sku]
    best = max(cells, key=lambda loc: world.stock[(op.sku, loc)])
    enough = world.stock[(op.sku, best)] >= op.qty
    # A channel may decide on a view up to STALENESS_MS behind: units returned (cancels
    # acknowledged) that recently may not show yet, so they do not make a refusal false.
    floor = max(world.stock[(op.sku, loc)] - returned_since(world, op, loc) for loc in cells)
    if op.behaviour == "refuse" and enough and op.report == "normal" and not sku_unsure:
        if floor >= op.qty:
            world.false_sold_outs += 1  # a sold-out answer while stock remained; it refuses
        return  # only where no earlier outcome is unknown, so the history proves it
    if enough or op.behaviour in ("oversell", "duplicate"):
        op.applied, op.location, op.order_id = True, best, f"order-{op.id}"
        world.keys.setdefault(op.key, (op.order_id, best))
        world.stock[(op.sku, best)] -= op.qty
        world.changes.append((op.apply, (op.sku, best), -op.qty))


def returned_since(world: World, op: Op, location: str) -> int:
    """Units returned to ``op``'s SKU at ``location`` by cancels acknowledged within the
    view staleness allowance before ``op`` was invoked."""
    return sum(
        c.qty for c in world.ops
        if c.kind == "cancel" and c.cancels is not None and c.sku == op.sku
        and c.location == location and op.invoke - STALENESS_MS <= c.done <= op.invoke
    )  # fmt: skip


def cancel(world: World, op: Op, *, exact: bool) -> None:
    """Cancel an order the client knows of (acknowledged before this invoke)."""
    known = [o for o in world.ops if o.kind == "place" and o.sku == op.sku and o.applied
             and o.report == "normal" and o.done < op.invoke and o.retry_of is None
             and not any(c.cancels is o for c in world.ops)]  # fmt: skip
    if not known:
        return
    order = known[0]
    op.cancels, op.qty, op.location, op.key = order, order.qty, order.location, order.key
    op.order_id, op.applied = order.order_id, True
    if exact:
        op.report = "normal"
    world.stock[(op.sku, order.location)] += op.qty  # type: ignore[index]
    world.changes.append((op.apply, (op.sku, order.location), op.qty))  # type: ignore[arg-type]


# -- writing the history -------------------------------------------------------------------


def ledger(world: World) -> list[Record]:
    records: list[Record] = []
    for n, op in enumerate(world.ops):
        base = {"op": op.id, "type": op.kind, "key": op.key, "sku": op.sku, "qty": op.qty,
                "channel": "web", "source": "load-0"}  # fmt: skip
        asked = op.requested if op.kind == "place" else op.location
        invoke_id = op.order_id if op.kind == "cancel" else None
        records.append({**base, "t": op.invoke / 1000, "phase": "invoke", "location": asked,
                        "order_id": invoke_id})  # fmt: skip
        outcome = outcome_record(op)
        if op.report == "normal":
            records.append({**base, **outcome, "t": op.done / 1000})
        elif op.report in ("info", "resolved"):
            records.append({**base, "t": op.done / 1000, "phase": "info", "location": asked,
                            "order_id": invoke_id, "reason": "timeout"})  # fmt: skip
        if op.report == "resolved":
            records.append({**base, **outcome, "t": (END_MS + n) / 1000, "resolved": True})
    return records


def outcome_record(op: Op) -> Record:
    if op.kind == "cancel" or op.order_id:
        return {"phase": "ok", "order_id": op.order_id, "location": op.location}
    return {"phase": "fail", "order_id": None, "location": op.requested, "reason": "out_of_stock"}


@st.composite
def observations(draw: st.DrawFn, world: World, *, bad: bool) -> tuple[list[Record], int, int]:
    """Truth and view records (some off by ``OFF`` when ``bad``); how many are off."""
    cells = sorted(world.initial)
    records = [stock_record(-1000, -1001, "truth", None, cell, world.initial[cell], "start")
               for cell in cells]  # fmt: skip
    bad_truth = bad_views = 0
    for _ in range(draw(st.integers(0, 12))):
        cell = draw(st.sampled_from(cells))
        t = draw(st.integers(0, 900)) * 10 + 5
        t0 = t - draw(st.integers(1, 300))
        at = draw(st.integers(t0, t))
        off = bad and draw(st.integers(0, 4)) == 0
        if draw(st.booleans()):
            value = world.value(cell, at) + (OFF if off else 0)
            records.append(stock_record(t, t0, "truth", None, cell, value, "run"))
            bad_truth += off
        else:
            seen = at - draw(st.integers(0, STALENESS_MS - 1))
            value = world.value(cell, seen) + (-OFF if off else 0)
            channel = draw(st.sampled_from(["web", "app", "store", "marketplace"]))
            records.append(stock_record(t, t0, "view", channel, cell, value, "run"))
            bad_views += off
    return records, bad_truth, bad_views


def stock_record(t: int, t0: int, kind: str, channel: str | None, cell: tuple[str, str],
                 value: int, phase: str) -> Record:  # fmt: skip
    truth = kind == "truth"
    return {"t": t / 1000, "t0": t0 / 1000, "kind": kind, "sku": cell[0], "location": cell[1],
            "channel": channel, "available": value, "on_hand": value if truth else None,
            "reserved": 0 if truth else None, "committed": 0 if truth else None,
            "phase": phase, "source": "probe"}  # fmt: skip


def check(ledger_records: list[Record], stock_records: list[Record]) -> DriftReport:
    """Write the records as the processes would (in time order per file), then check."""
    return fed(ledger_records, stock_records).report()


def fed(ledger_records: list[Record], stock_records: list[Record]) -> DriftChecker:
    """A checker fed the records (as ``check`` does), not yet asked for its report."""
    config = DriftConfig(view_staleness_s=STALENESS_MS / 1000)
    sources = [
        Source.lines(stream, stream, [json.dumps(r) + "\n" for r in sorted(records, key=_t)])
        for stream, records in (("ledger", ledger_records), ("stock", stock_records))
    ]
    checker = DriftChecker(config)
    for entry in merge_by_time(sources, config.reorder_window_s):
        checker.feed(entry[3], entry[4])
    return checker


def _t(record: Record) -> float:
    return float(record["t"])


# -- what the checker must say ---------------------------------------------------------------


def known_oversell(world: World) -> int:
    """Units confirmed beyond what existed, per cell at the worst moment: an order counts
    from its first confirmation (an ok, or an end-of-run resolution), a cancel from its
    invoke (it may return the stock as soon as it is sent)."""
    steps: list[tuple[int, tuple[str, str], int]] = []
    confirmed: set[str] = set()
    places = [op for op in world.ops if op.kind == "place" and op.order_id]
    when = {op.id: confirmation(world, op) for op in places}
    for op in sorted((op for op in places if when[op.id] is not None), key=lambda o: when[o.id]):
        at = when[op.id]
        if op.order_id not in confirmed:
            confirmed.add(op.order_id)  # type: ignore[arg-type]
            steps.append((at, (op.sku, op.location), -op.qty))  # type: ignore[arg-type]
    for op in world.ops:
        if op.kind == "cancel":
            steps.append((op.invoke, (op.sku, op.location), op.qty))  # type: ignore[arg-type]
    total = 0
    for cell, initial in world.initial.items():
        level = lowest = initial
        for _, _, delta in sorted(s for s in steps if s[1] == cell):
            level += delta
            lowest = min(lowest, level)
        total += max(0, -lowest)
    return total


def confirmation(world: World, op: Op) -> int | None:
    """When the client (or the end-of-run resolution) learnt that ``op`` succeeded."""
    if op.report == "normal":
        return op.done
    if op.report == "resolved":
        return END_MS + world.ops.index(op)
    return None


def known_duplicates(world: World) -> int:
    confirmed: dict[str, set[str]] = {}
    for op in world.ops:
        if op.kind == "place" and op.order_id and op.report in ("normal", "resolved"):
            confirmed.setdefault(op.key, set()).add(op.order_id)
    return sum(len(ids) > 1 for ids in confirmed.values())


@st.composite
def exact_histories(draw: st.DrawFn) -> tuple[World, list[Record], int, int]:
    world = draw(worlds(exact=True))
    stock_records, bad_truth, bad_views = draw(observations(world, bad=True))
    return world, stock_records, bad_truth, bad_views


@PROPERTY
@given(exact_histories())
def test_the_checker_reports_exactly_what_the_simulated_oms_did(
    history: tuple[World, list[Record], int, int],
) -> None:
    world, stock_records, bad_truth, bad_views = history
    report = check(ledger(world), stock_records)
    negative = sum(r["kind"] == "truth" and r["available"] < 0 for r in stock_records)
    assert report.oversell_units == known_oversell(world)
    assert report.undersell_false_sold_out == world.false_sold_outs
    assert report.duplicates == known_duplicates(world)
    assert report.truth_outside_interval == bad_truth
    assert report.views_outside_interval == bad_views
    assert report.negative_stock_observations == negative
    assert report.conservation_violations == 0


@st.composite
def concurrent_histories(draw: st.DrawFn) -> tuple[World, list[Record]]:
    world = draw(worlds(exact=False))
    stock_records, _, _ = draw(observations(world, bad=False))
    return world, stock_records


@PROPERTY
@given(concurrent_histories())
def test_a_correct_oms_under_concurrency_is_never_accused(
    history: tuple[World, list[Record]],
) -> None:
    world, stock_records = history
    report = check(ledger(world), stock_records)
    assert report.truth_outside_interval == 0
    assert report.views_outside_interval == 0
    assert report.oversell_units == 0
    assert report.undersell_false_sold_out == 0
    assert report.duplicates == 0
    assert report.negative_stock_observations == 0
    assert report.violations_total == 0
    for channel in report.channels.values():
        lag = channel.lag
        assert lag.worst_s is None or lag.worst_s >= 0


# -- convergence lag: views that lag the truth by a known constant --------------------------

LAG_CELL = ("S0", "L0")
LAG_STOCK = 100
ROUNDING_S = 0.001  # float and histogram-bucket rounding allowed around the constant


@dataclass(frozen=True)
class LaggingViews:
    """Places acknowledged at ``acks`` (ms; the truth changes then) and channel views
    showing the truth exactly ``lag_ms`` late, probed over ``(t0, t, at)`` spans (ms;
    ``at``: the instant inside the span the value was read)."""

    lag_ms: int
    acks: list[int]
    looks: dict[str, list[tuple[int, int, int]]]

    def shown(self, at: int) -> int:
        return LAG_STOCK - sum(ack <= at - self.lag_ms for ack in self.acks)

    def records(self) -> tuple[list[Record], list[Record]]:
        ledger_records: list[Record] = []
        for n, ack in enumerate(self.acks):
            base = {"op": f"p{n}", "type": "place", "key": f"k{n}", "sku": LAG_CELL[0], "qty": 1,
                    "location": LAG_CELL[1], "channel": "web", "source": "load-0"}  # fmt: skip
            ledger_records.append({**base, "t": (ack - 30) / 1000, "phase": "invoke",
                                   "order_id": None})  # fmt: skip
            ledger_records.append({**base, "t": ack / 1000, "phase": "ok", "order_id": f"o{n}"})
        stock_records = [stock_record(-1000, -1001, "truth", None, LAG_CELL, LAG_STOCK, "start")]
        for channel, spans in self.looks.items():
            stock_records += [stock_record(t, t0, "view", channel, LAG_CELL, self.shown(at), "run")
                              for t0, t, at in spans]  # fmt: skip
        return ledger_records, stock_records


@st.composite
def lagging_views(draw: st.DrawFn) -> LaggingViews:
    """A constant lag of 0.2-3 s (often exactly 1.5 s), acks, and random probe timings.

    A probe takes less than the lag, so a view showing a change shows one acknowledged
    before the probe started (the checker credits exactly those).
    """
    lag_ms = draw(st.one_of(st.just(1500), st.integers(200, 3000)))
    acks, t = [], 500
    for _ in range(draw(st.integers(1, 8))):
        t += draw(st.integers(40, 1000))
        acks.append(t)
    end = acks[-1] + lag_ms + 1500  # the last look shows every change
    looks: dict[str, list[tuple[int, int, int]]] = {}
    for channel in ("web", "app")[: draw(st.integers(1, 2))]:
        spans, t0 = [], draw(st.integers(0, 400))
        while t0 < end:
            t = t0 + draw(st.integers(1, 150))
            spans.append((t0, t, draw(st.integers(t0, t))))
            t0 = t + draw(st.integers(50, 1200))  # mostly within lag_resolution_s: timed
        looks[channel] = spans
    return LaggingViews(lag_ms, acks, looks)


def lag_slo(report: DriftReport, threshold_ms: float) -> Status:
    objective = ConvergenceLagObjective(id="lag", percentile=99, threshold_ms=threshold_ms)
    stats = RunStats(endpoints={}, elapsed_s=60.0, drift=report.to_stats())
    (evaluation,) = evaluate([objective], stats, default_min_samples=1)
    return evaluation.status


@PROPERTY
@given(lagging_views())
def test_a_constant_lag_lies_within_the_reported_bounds_under_any_probe_timing(
    views: LaggingViews,
) -> None:
    lag = views.lag_ms / 1000
    checker = fed(*views.records())
    report = checker.report()
    for tally in checker.tally().channels.values():
        lags = tally.lags  # every timed convergence: lower <= lag <= upper
        assert lags.count == 0 or lags.lower.worst <= lag + ROUNDING_S
        assert lags.count == 0 or lags.upper.least >= lag - ROUNDING_S
    assert report.never_converged == 0
    stats = report.to_stats()
    if report.converged == 0:
        assert stats.lag_s[99] is None and stats.lag_upper_s[99] is None
        return
    lower, upper = stats.lag_s[99], stats.lag_upper_s[99]
    assert lower is not None and upper is not None
    assert lower <= lag + ROUNDING_S and upper >= lag - ROUNDING_S
    assert lower < lag + ROUNDING_S  # so a threshold above the constant passes:
    assert lag_slo(report, views.lag_ms + ROUNDING_S * 1000 + 1) is Status.PASS


def test_views_lagging_exactly_1_5_s_probed_every_0_8_s_pass_a_2_s_slo() -> None:
    acks = [1000, 4000, 7000, 10000]  # each reaches the views 1.5 s later
    spans = [(t0, t0 + 10, t0 + 5) for t0 in range(0, 13_000, 800)]
    views = LaggingViews(1500, acks, {"web": spans})
    checker = fed(*views.records())
    report = checker.report()
    lags = checker.tally().channels["web"].lags
    assert lags.count == 4
    assert (lags.lower.worst, lags.upper.least) == pytest.approx((1.4, 1.61))
    assert report.lag.p99_s == pytest.approx(1.4, abs=ROUNDING_S)  # the look before: 1.4 s
    assert report.lag.p99_upper_s == pytest.approx(2.21, abs=ROUNDING_S)  # the first with it
    assert report.lag.p99_upper_s > 2.0  # judged on the upper bound, a false alarm
    assert lag_slo(report, 2000) is Status.PASS
