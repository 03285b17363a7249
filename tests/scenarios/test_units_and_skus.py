"""``target.maxUnits`` in the journey planner and the arrival scheduler, the shares of
several processes, the one ``max_units_reached`` event, and the SKUs shoppers buy."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from collectors.rundir import RunDir
from scenarios.arrivals import ArrivalPlanner, ArrivalScheduler
from scenarios.funnel import ChannelFunnel, JourneyPlan, JourneyPlanner, UnitBudget, unit_share
from scenarios.session import Buffer, LoadSession, open_run
from scenarios.shoppers import Catalog, ChannelMix
from slo.loader import load_plan_text
from slo.plan import Plan, plan_snapshot


def journeys(units: UnitBudget | None = None, seed: int = 1) -> JourneyPlanner:
    """Every journey browses two SKUs and orders (funnel order 1.0)."""
    return JourneyPlanner(
        channels=ChannelMix({"web": 1.0}), funnels={"web": ChannelFunnel(browse=2, order=1.0)},
        catalog=Catalog(["HOT", "WARM", "COLD"], 1.1), cancel_ratio=0.0,
        rng=random.Random(seed), units=units,
    )  # fmt: skip


def test_without_a_cap_every_journey_that_means_to_order_orders() -> None:
    planner = journeys()
    assert all(planner.draw(0.0).order_sku is not None for _ in range(100))


def test_at_the_cap_orders_stop_browsing_goes_on_and_it_is_said_once() -> None:
    said: list[int] = []
    planner = journeys(UnitBudget(5, on_spent=said.append))
    plans = [planner.draw(0.0) for _ in range(20)]
    assert sum(p.order_sku is not None for p in plans) == 5
    assert all(p.order_sku is None for p in plans[5:])
    assert all(len(p.browse) == 2 for p in plans)  # shoppers still look at products
    assert said == [5]


def test_a_cap_changes_what_journeys_order_not_their_channel_or_browsing() -> None:
    capped, free = journeys(UnitBudget(3), seed=7), journeys(seed=7)
    for _ in range(10):
        a, b = capped.draw(0.0), free.draw(0.0)
        assert (a.channel, a.browse) == (b.channel, b.browse)


def test_once_spent_the_budget_stays_spent_even_when_units_come_back() -> None:
    said: list[int] = []
    budget = UnitBudget(2, on_spent=said.append)
    assert budget.take(1) and budget.take(1) and not budget.take(1)
    budget.give_back(1)
    assert not budget.take(1) and said == [2]


@pytest.mark.parametrize(
    ("max_units", "count", "shares"),
    [(None, 2, [None, None]), (25, 2, [13, 12]), (10, 3, [4, 3, 3]), (1, 3, [1, 0, 0])],
    ids=["no cap", "an odd cap over two processes", "three processes", "fewer units than all"],
)  # fmt: skip
def test_the_shares_of_the_processes_add_up_to_the_cap(
    max_units: int | None, count: int, shares: list[int | None]
) -> None:
    assert [unit_share(max_units, i, count) for i in range(count)] == shares


class Pool:
    """A pool with ``free`` slots; a journey never ends (its slot stays taken)."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.started: list[Any] = []

    def free_count(self) -> int:
        return self.free

    def spawn(self, func: Callable[..., object], *args: object) -> None:
        self.free -= 1
        self.started.append(args[1])


def schedule(planner: JourneyPlanner, free: int) -> tuple[ArrivalScheduler, list[JourneyPlan]]:
    """30 arrivals (10/s for 3 s) into a pool of ``free`` slots that never free up."""
    now = [0.0]
    pool = Pool(free)
    scheduler = ArrivalScheduler(
        ArrivalPlanner(lambda t: 10.0, duration_s=3.0, poisson=False, rng=random.Random(1)),
        pool, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s),
        on_drop=planner.dropped,
    )  # fmt: skip
    scheduler.run(lambda *_: None, lambda: planner.draw(now[0]))
    return scheduler, pool.started


def test_the_scheduler_sends_orders_up_to_the_cap_then_journeys_only_browse() -> None:
    planner = journeys(UnitBudget(8))
    scheduler, sent = schedule(planner, free=30)
    assert scheduler.counts.sent == 30
    assert [p.order_sku is not None for p in sent] == [True] * 8 + [False] * 22
    assert planner.units.spent


def test_units_of_dropped_arrivals_come_back_the_cap_counts_orders_sent() -> None:
    planner = journeys(UnitBudget(8))
    scheduler, sent = schedule(planner, free=2)
    assert (scheduler.counts.sent, scheduler.counts.dropped) == (2, 28)
    assert sum(p.order_sku is not None for p in sent) == planner.units.used == 2
    assert not planner.units.spent


def test_units_of_dropped_arrivals_can_still_be_ordered() -> None:
    planner = journeys(UnitBudget(2))
    first = planner.draw(0.0)
    planner.dropped(first)  # never sent
    assert planner.draw(0.0).order_sku is not None and planner.draw(0.0).order_sku is not None
    assert planner.draw(0.0).order_sku is None


# -- the load session: shares spent across processes, the SKUs it uses ------------------

PLAN = """\
apiVersion: peakops/v1
target:
  kind: url
  baseUrl: http://127.0.0.1:9
  allowHosts: [127.0.0.1]
{extra}load: {{profile: constant, duration: 10s, baseline: 60, zipf: 1.0}}
slos:
  objectives:
    - {{id: errors, kind: error_ratio, max: 0.01}}
"""


def session(tmp_path: Path, extra: str = "  maxUnits: 25\n", *, buffered: bool = False,
            source: str = "load") -> LoadSession:  # fmt: skip
    plan: Plan = load_plan_text(PLAN.format(extra=extra), "peak.yaml")
    run = RunDir.create(tmp_path, "run-1", plan=plan_snapshot(plan), git_sha=None)
    return LoadSession(run, plan, source=source, buffered=buffered)


def reached(tmp_path: Path) -> list[dict[str, Any]]:
    return [e for e in RunDir(tmp_path / "run-1").events() if e["type"] == "max_units_reached"]


def test_the_cap_is_reached_once_every_process_spent_its_share(tmp_path: Path) -> None:
    master = session(tmp_path)
    worker_buffers: list[Buffer] = []
    for index in range(2):
        worker = session(tmp_path / f"w{index}", buffered=True, source=f"worker-{index}")
        units = worker.units(index, 2)
        while units.take(1):
            pass
        assert worker.buffer is not None
        worker_buffers.append(worker.buffer)
    master.absorb(worker_buffers[0].drain())
    assert reached(tmp_path) == []  # one share of two: the run has not reached its cap
    master.absorb(worker_buffers[1].drain())
    master.absorb(worker_buffers[1].drain())  # nothing new: said once only
    (event,) = reached(tmp_path)
    assert (event["units"], event["max_units"]) == (25, 25)


def test_a_single_load_process_says_it_itself(tmp_path: Path) -> None:
    local = session(tmp_path)
    units = local.units()
    while units.take(1):
        pass
    (event,) = reached(tmp_path)
    assert event["units"] == 25


def test_shoppers_buy_the_url_targets_skus_most_popular_first(tmp_path: Path) -> None:
    local = session(tmp_path, "")
    local.skus = ["HOT", "WARM", "COLD"]
    catalog = local.catalog()
    assert list(catalog.skus) == ["HOT", "WARM", "COLD"] and catalog.hottest(1) == ["HOT"]
    picks = [catalog.pick(random.Random(i)) for i in range(300)]
    assert picks.count("HOT") > picks.count("WARM") > picks.count("COLD") > 0


def test_without_a_list_shoppers_buy_the_seeded_catalog(tmp_path: Path) -> None:
    local = session(tmp_path, "")
    assert list(local.catalog().skus)[:2] == ["SKU-00001", "SKU-00002"]


def test_the_run_tells_each_process_where_the_plan_lives(tmp_path: Path) -> None:
    local = session(tmp_path, "")
    local.run.update_header(plan_dir=str(tmp_path / "plans"))
    _run, plan, plan_dir = open_run(local.run.path)
    assert plan == local.plan and plan_dir == tmp_path / "plans"
