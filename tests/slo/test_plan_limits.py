"""Upper bounds on plan numbers: a typo must not exhaust the machine or the target."""

from __future__ import annotations

import pytest

from slo.errors import PlanError
from slo.loader import load_plan_text
from slo.plan import plan_from_snapshot, plan_snapshot, with_overrides
from tests.slo.test_loader import BASE, edit

TARGET = "  kind: embedded\n"
LOAD = "  baseline: 50\n"
SLOS = "slos:\n"


def target(lines: str) -> str:
    return edit((TARGET, TARGET + lines))


def load(lines: str) -> str:
    return edit((LOAD, LOAD + lines))


def slos(lines: str) -> str:
    return edit((SLOS, SLOS + lines))


TOO_BIG = [
    pytest.param(
        target("  catalog: {skus: 1000000000}\n"),
        "peak.yaml:5: target.catalog.skus: expected at most 100000, got 1000000000",
        id="a billion SKUs is refused before the OMS seeds them",
    ),
    pytest.param(
        target("  stores: 8\n  catalog: {skus: 100000, locations: 4}\n"),
        "peak.yaml:6: target.catalog.skus: 100000 SKUs x 4 locations + 8 stores = 1200000 "
        "stock cells, expected at most 1000000 (each is seeded into the OMS and tracked "
        "for drift)",
        id="SKUs times locations and stores is bounded too",
    ),
    pytest.param(
        target("  catalog: {maxStock: 5000000}\n"),
        "peak.yaml:5: target.catalog.maxStock: expected at most 1000000, got 5000000",
        id="stock beyond a million units per cell is refused",
    ),
    pytest.param(
        target("  catalog: {seed: 99999999999999999999999}\n"),
        "peak.yaml:5: target.catalog.seed: expected at most 9223372036854775807, "
        "got 99999999999999999999999",
        id="a seed must fit 64 bits",
    ),
    pytest.param(
        target("  catalog: {skus: 5000}\n  probes: {hotSkus: 2000}\n"),
        "peak.yaml:6: target.probes.hotSkus: expected at most 1000, got 2000",
        id="more than a thousand hot SKUs is refused",
    ),
    pytest.param(
        target("  catalog: {skus: 50}\n  probes: {hotSkus: 80}\n"),
        "peak.yaml:6: target.probes.hotSkus: expected at most catalog.skus (50), got 80",
        id="more hot SKUs than SKUs is refused",
    ),
    pytest.param(
        target("  probes: {rate: 5000}\n"),
        "peak.yaml:5: target.probes.rate: expected at most 1000, got 5000",
        id="probing faster than a thousand SKUs a second is refused",
    ),
    pytest.param(
        target("  probes: {settleTimeout: 1h}\n"),
        "peak.yaml:5: target.probes.settleTimeout: expected at most 10m, got 1h",
        id="a settle timeout is at most ten minutes, said in duration units",
    ),
    pytest.param(
        target("  probes: {viewStaleness: 10m}\n"),
        "peak.yaml:5: target.probes.viewStaleness: expected at most 5m, got 10m",
        id="a view staleness allowance is at most five minutes",
    ),
    pytest.param(
        edit(("baseline: 50", "baseline: 1e12")),
        "peak.yaml:7: load.baseline: expected at most 600000, got '1e12'",
        id="a baseline of 1e12 orders per minute is refused",
    ),
    pytest.param(
        load("  peak: 1000000\n"),
        "peak.yaml:8: load.peak: expected at most 600000, got 1000000",
        id="a peak beyond 600000 orders per minute is refused",
    ),
    pytest.param(
        edit(("baseline: 50", "baseline: 300000")),
        "peak.yaml:5: load.peakMultiplier: baseline x peakMultiplier = 900000 orders/min, "
        "expected at most 600000: lower peakMultiplier or give peak",
        id="the peak a multiplier resolves to is bounded like a given peak",
    ),
    pytest.param(
        load("  peakMultiplier: 1000\n"),
        "peak.yaml:8: load.peakMultiplier: expected at most 100, got 1000",
        id="a peak multiplier beyond 100 is refused",
    ),
    pytest.param(
        edit(("duration: 60s", "duration: 100000h")),
        "peak.yaml:6: load.duration: expected at most 168h, got 100000h",
        id="a load longer than a week is refused in duration units",
    ),
    pytest.param(
        load("  compression: 1000000\n"),
        "peak.yaml:8: load.compression: expected at most 86400, got 1000000",
        id="a compression beyond a day per second is refused",
    ),
    pytest.param(
        load("  maxConcurrency: 1000000000\n"),
        "peak.yaml:8: load.maxConcurrency: expected at most 10000, got 1000000000",
        id="a billion journeys in flight is refused",
    ),
    pytest.param(
        load("  users: 50000\n"),
        "peak.yaml:8: load.users: expected at most 10000, got 50000",
        id="more than ten thousand closed-model users is refused",
    ),
    pytest.param(
        load("  targetOrdersPerMinute: 1000000\n"),
        "peak.yaml:8: load.targetOrdersPerMinute: expected at most 600000, got 1000000",
        id="an orders-per-minute target is bounded like the rates",
    ),
    pytest.param(
        load("  maxTracesPerSecond: 100000\n"),
        "peak.yaml:8: load.maxTracesPerSecond: expected at most 1000, got 100000",
        id="a trace cap that would not cap tracing is refused",
    ),
    pytest.param(
        load("  zipf: 100\n"),
        "peak.yaml:8: load.zipf: expected at most 10, got 100",
        id="a zipf skew beyond 10 is refused",
    ),
    pytest.param(
        load("  channels: {web: 10000000, app: 1}\n"),
        "peak.yaml:8: load.channels.web: expected a weight from 0 to 1000000, got 10000000",
        id="a channel weight beyond a million is refused",
    ),
    pytest.param(
        slos("  minSamples: 100000000\n"),
        "peak.yaml:9: slos.minSamples: expected at most 10000000, got 100000000",
        id="a minimum sample count no run reaches is refused",
    ),
    pytest.param(
        edit(("threshold: 250ms", "threshold: 250ms\n      minSamples: 20000000")),
        "peak.yaml:15: slos.objectives[0].minSamples: expected at most 10000000, got 20000000",
        id="an objective's own minimum sample count is bounded too",
    ),
    pytest.param(
        slos("  recoveryAllowance: 2h\n"),
        "peak.yaml:9: slos.recoveryAllowance: expected at most 1h, got 2h",
        id="a recovery allowance beyond an hour is refused",
    ),
    pytest.param(
        edit(("threshold: 250ms", "threshold: 2h")),
        "peak.yaml:14: slos.objectives[0].threshold: expected at most 1h, got 2h",
        id="a latency threshold beyond an hour is refused",
    ),
    pytest.param(
        BASE + "    - {id: rec, kind: recovery, threshold: 1s, window: 1h, "
        "minRequests: 100000000}\n",
        "peak.yaml:15: slos.objectives[1].window: expected at most 10m, got 1h\n"
        "peak.yaml:15: slos.objectives[1].minRequests: expected at most 10000000, got 100000000",
        id="a recovery window and its request minimum are bounded",
    ),
    pytest.param(
        BASE + "    - {id: lag, kind: convergence_lag, percentile: 99, threshold: 90m}\n",
        "peak.yaml:15: slos.objectives[1].threshold: expected at most 1h, got 1h30m",
        id="a convergence lag threshold beyond an hour is refused",
    ),
    pytest.param(
        BASE + "    - {id: o, kind: oversell, max: 10000000000}\n",
        "peak.yaml:15: slos.objectives[1].max: expected at most 1000000000, got 10000000000",
        id="an oversell allowance beyond a billion units is refused",
    ),
    pytest.param(
        BASE + "chaos:\n  - {experiment: network-cut, offset: 10s, duration: 5s, "
        "stopBurnRate: 5000}\n",
        "peak.yaml:16: chaos[0].stopBurnRate: expected at most 1000, got 5000",
        id="a stop burn rate that could never trigger is refused",
    ),
]


@pytest.mark.parametrize(("text", "expected"), TOO_BIG)
def test_a_number_past_its_limit_is_refused_naming_the_limit(text: str, expected: str) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan_text(text, "peak.yaml")
    assert str(caught.value) == expected


AT_THE_LIMITS = """\
apiVersion: peakops/v1
target:
  stores: 8
  catalog: {skus: 100000, locations: 2, minStock: 1000000, maxStock: 1000000}
  probes: {rate: 1000, hotSkus: 1000, settleTimeout: 10m, viewStaleness: 5m}
load:
  duration: 168h
  baseline: 600000
  peak: 600000
  compression: 86400
  maxConcurrency: 10000
  users: 10000
  targetOrdersPerMinute: 600000
  maxTracesPerSecond: 1000
  zipf: 10
  channels: {web: 1000000, app: 0}
slos:
  minSamples: 10000000
  recoveryAllowance: 1h
  objectives:
    - {id: p99, kind: latency, percentile: 99, threshold: 1h, minSamples: 10000000}
    - {id: errors, kind: error_ratio, max: 0.01, during: steady}
    - {id: rec, kind: recovery, threshold: 1h, window: 10m, minRequests: 10000000}
chaos:
  - {experiment: network-cut, offset: 167h, duration: 1h, stopBurnRate: 1000}
"""


def test_every_limit_itself_is_accepted() -> None:
    plan = load_plan_text(AT_THE_LIMITS, "limits.yaml")
    assert plan.load.duration_s == 7 * 24 * 3600
    assert plan.target.catalog.skus * (plan.target.catalog.locations + plan.target.stores) == (
        1_000_000
    )


def test_the_default_hot_skus_shrink_to_a_small_catalog_and_snapshot_the_same() -> None:
    text = edit(("  kind: embedded\n", "  kind: embedded\n  catalog: {skus: 4}\n"))
    plan = load_plan_text(text, "peak.yaml")
    assert plan.target.probes.hot_skus == 4
    assert plan_from_snapshot(plan_snapshot(plan), "run.json") == plan


def test_a_duration_override_is_held_to_the_same_limit() -> None:
    plan = load_plan_text(BASE, "peak.yaml")
    with pytest.raises(PlanError) as caught:
        with_overrides(plan, duration_s=200 * 3600)
    assert str(caught.value) == "overrides: load.duration: expected at most 168h, got 200h"
