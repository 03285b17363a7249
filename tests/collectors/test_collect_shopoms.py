"""``peakops collect`` against ShopOMS, the second OMS (an API unlike the reference's),
through its adapter (docs/examples/shopoms_adapter.py): checkouts move the lag
histograms of every channel without drift, and the canary's checkouts are cancelled."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.collectors.test_collect_e2e import CHANNELS, LAG, OUTSIDE, per_channel, start, stop
from tests.fixtures.shopoms import ShopOms

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

PLAN = """\
apiVersion: peakops/v1
name: collect-shopoms
target:
  kind: url
  baseUrl: {url}
  adapter: shopoms_adapter:ShopOmsAdapter
  adapterOptions: {{timeout_s: 3}}
  skus: [ITM-001, ITM-002, ITM-003, ITM-004]
  probes: {{rate: 20, hotSkus: 2, viewStaleness: 2s}}
collect:
  canary: {{every: 1s, sku: ITM-004, channel: app}}
load: {{profile: constant, duration: 10s, baseline: 60}}
slos:
  objectives:
    - {{id: no-oversell, kind: oversell, max: 0}}
"""


def test_collect_probes_shopoms_through_its_adapter(shopoms: ShopOms, tmp_path: Path) -> None:
    shutil.copy(ROOT / "docs" / "examples" / "shopoms_adapter.py", tmp_path)
    plan = tmp_path / "peak.yaml"
    plan.write_text(PLAN.format(url=shopoms.url))

    def truth(item: str) -> int:
        data = httpx.get(f"{shopoms.url}/api/v2/inventory/{item}", timeout=5).json()
        return sum(int(w["available"]) for w in data["warehouses"])

    canary_stock = truth("ITM-004")
    proc, scrape, err = start(plan, tmp_path)
    try:
        with httpx.Client(base_url=shopoms.url, timeout=5) as shop:
            for _ in range(4):
                body = {"item": "ITM-001", "units": 1, "buyer": "e2e", "channel": "online"}
                key = uuid.uuid4().hex
                assert shop.post(f"/api/v2/checkout?request={key}", json=body).status_code == 202
                time.sleep(0.5)  # one change at a time: each timed on its own
        scrape.until(lambda s: min(per_channel(s, LAG + "_count", bound="upper").values()) >= 3,
                     8, "every channel timed the lag of the checkouts")  # fmt: skip
        ops = "peakops_collect_canary_operations_total"
        scrape.until(lambda s: s.value(ops, op="cancel", outcome="ok") >= 2, 8,
                     "the canary placed and cancelled two checkouts")  # fmt: skip
        print("\n-- shopoms --\n" + scrape.excerpt(LAG + "_sum", LAG + "_count", OUTSIDE, ops))
        assert set(per_channel(scrape, OUTSIDE).values()) == {0.0}
        assert scrape.value("peakops_collect_probe_errors_total", kind="adapter_bug",
                            call="view") == 0  # fmt: skip
        # ShopOMS refreshes its views every 0.1 s (partner: 0.4 s): no lower bound may
        # claim a lag of a second
        for channel in CHANNELS:
            count = scrape.value(LAG + "_count", channel=channel, bound="lower")
            assert scrape.value(LAG + "_bucket", channel=channel, bound="lower", le="1.0") == count
    finally:
        stop(proc, err)
    assert truth("ITM-004") == canary_stock
