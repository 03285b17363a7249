"""The metric catalog lint checks against is what the suite really serves: the load
process's and the collector's registries and the reference OMS's, scraped here."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from cli.dashboards_inputs import metric_catalog
from collectors.collect_metrics import CollectMetrics, family
from collectors.live_metrics import LiveMetrics
from dashboards.catalog import COLLECTOR, LOAD_PROCESS, RECORDING_RULES, REFERENCE_OMS
from slo import conventions as n


def _served(registry: CollectorRegistry) -> set[str]:
    text = generate_latest(registry).decode()
    names = {m.group(1) for m in re.finditer(r"^([a-zA-Z_:][\w:]*)(?:\{| )", text, re.M)}
    return {name for name in names if not name.endswith("_created")}


def _of(who: str) -> set[str]:
    return {name for name, by in metric_catalog().producers.items() if by == who}


def test_the_load_process_serves_exactly_its_catalog_entries() -> None:
    live = LiveMetrics()
    live.observe_load({"arrivals_planned": 1, "arrivals_sent": 1, "arrivals_dropped": 0,
                       "orders_confirmed": 1, "active_max": 1, "cpu_percent": 12.5})  # fmt: skip
    live.observe_drift({"oversell_units": 0, "truth_outside_interval": 0,
                        "views_outside_interval": 0, "undersell_false_sold_out": 0,
                        "lag_p50_s": 0.1})  # fmt: skip
    served = _served(live.registry())
    # the latency histogram and the request counter have series once a request was recorded
    recorded = {f"{n.METRIC_CLIENT_LATENCY}_{s}" for s in ("bucket", "sum", "count")}
    recorded.add(f"{n.METRIC_CLIENT_REQUESTS}_total")
    assert served | recorded == _of(LOAD_PROCESS)


def test_the_collector_serves_exactly_its_catalog_entries() -> None:
    registry = CollectorRegistry()
    CollectMetrics(registry, ["web"])
    # the canary's families, as collectors/collect_canary.py makes them
    family(Histogram, registry, n.METRIC_COLLECT_CANARY_DURATION, n.LABEL_OP).labels("place")
    family(Counter, registry, n.METRIC_COLLECT_CANARY_OPS, n.LABEL_OP, n.LABEL_OUTCOME).labels(
        "place", "ok"
    )
    family(Gauge, registry, n.METRIC_COLLECT_CANARY_OPEN)
    assert _served(registry) == _of(COLLECTOR)


def test_every_reference_oms_metric_is_named_in_its_source() -> None:
    source = "\n".join(p.read_text() for p in Path("reference_oms").glob("*.py"))
    for name in n.OMS_METRICS:
        base = name.removesuffix("_total")
        assert f'"{base}"' in source or f'"{name}"' in source, name
    assert {m for m in _of(REFERENCE_OMS)} >= {"oms_orders_total", "oms_store_forwarded_total"}


def test_every_recording_rule_of_the_committed_rules_is_in_the_catalog() -> None:
    text = Path("alerts/generated/default-peak.rules.yaml").read_text()
    recorded = set(re.findall(r"record: (\S+)", text))
    assert recorded
    assert recorded <= _of(RECORDING_RULES)
