"""The load meter: one record per interval, whatever the sink does meanwhile.

A run's planned requests are the sum of these records, and the gate's throughput
objective divides what was sent by it: an interval written twice halves a second's
throughput (seen in a rehearsal: ``order-throughput`` 0.9786 for 1833 orders sent of
1833 planned, the 40 orders of one interval counted twice).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from collectors.loadmeter import LoadMeter


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def meter(clock: FakeClock, sink: Any) -> LoadMeter:
    return LoadMeter(sink, cpu_percent=lambda: 10.0, clock=clock)


def test_a_sink_that_lets_others_count_meanwhile_writes_each_interval_once() -> None:
    """Under gevent the sink may yield (a lock held by a scrape); an arrival counted
    meanwhile belongs to the next interval, and the closed one is not written again."""
    clock = FakeClock(1000.2)
    out: list[dict[str, Any]] = []

    def yielding_sink(record: dict[str, Any]) -> None:
        out.append(record)
        if len(out) == 1:
            load.plan(["POST /orders"])  # another greenlet, in the new second
            load.sent()

    load = meter(clock, yielding_sink)
    load.plan(["GET /stock/{sku}", "POST /orders"])
    load.sent()
    clock.now = 1001.1
    load.flush()
    clock.now = 1002.1
    load.flush()
    assert [r["t"] for r in out] == [1000.0, 1001.0]
    assert [r["planned"] for r in out] == [
        {"GET /stock/{sku}": 1, "POST /orders": 1}, {"POST /orders": 1},
    ]  # fmt: skip
    assert [r["arrivals_sent"] for r in out] == [1, 1]


def test_after_the_final_flush_no_interval_is_written_again() -> None:
    clock = FakeClock(1000.2)
    out: list[dict[str, Any]] = []
    load = meter(clock, out.append)
    load.plan(["POST /orders"])
    load.sent()
    clock.now = 1001.5
    load.flush()  # 1000 closes
    load.plan(["POST /orders"])
    load.flush(final=True)  # 1001, cut short at the end of the load
    for now in (1001.7, 1002.1, 1003.1, 1004.1):  # a flush loop that runs on a little
        clock.now = now
        load.flush()
    times = Counter(r["t"] for r in out)
    assert times == Counter({1000.0: 1, 1001.0: 1})
    assert sum(sum(r["planned"].values()) for r in out) == 2


def test_what_is_counted_after_the_final_flush_is_still_written() -> None:
    clock = FakeClock(1000.2)
    out: list[dict[str, Any]] = []
    load = meter(clock, out.append)
    load.flush(final=True)
    load.confirmed()  # an answer that came in after the end
    clock.now = 1001.1
    load.flush()
    assert sum(r["orders_confirmed"] for r in out) == 1


def test_quiet_intervals_during_the_run_are_written_as_zeros() -> None:
    clock = FakeClock(1000.2)
    out: list[dict[str, Any]] = []
    load = meter(clock, out.append)
    for now in (1001.1, 1002.1):
        clock.now = now
        load.flush()
    assert [(r["t"], r["arrivals_planned"]) for r in out] == [(1000.0, 0.0), (1001.0, 0.0)]
