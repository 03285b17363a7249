"""``peakops target check``: the plan's adapter against a live OMS, judged line by line.

Against ShopOMS (the second OMS, ``tests/fixtures/shopoms``) with its example adapter,
against the reference OMS with its own, and against ShopOMS with the wrong one.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from cli import app
from collectors.adapter import HttpCall, Outcome, StockRow
from collectors.conformance import CheckLine, Conformance
from platforms.local import LocalPlatform, OmsConfig
from tests.fixtures.shopoms import ShopOms

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "shopoms_adapter.py"
SHOP_ADAPTER = "shopoms_adapter:ShopOmsAdapter"
REFERENCE_ADAPTER = "collectors.adapter:ReferenceOmsAdapter"

PLAN = """\
apiVersion: peakops/v1
target:
  kind: url
  baseUrl: {base_url}
{extra}load: {{duration: 5s, baseline: 60}}
slos:
  objectives:
    - {{id: errors, kind: error_ratio, max: 0.01}}
"""

EVERY_CHECK = [
    "truth readable",
    *(f"view {c} readable" for c in ("web", "app", "store", "marketplace")),
    "place one unit",
    "truth shows the order",
    *(f"view {c} shows the order" for c in ("web", "app", "store", "marketplace")),
    "lookup by key",
    "retry same key",
    "cancel",
    "cleanup cancel",
    "cancel lookup",
    "sold out",
    "counts exposed",
]


@pytest.fixture(autouse=True)
def no_operator_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PEAKOPS_ALLOWED_HOSTS", raising=False)


def write_plan(tmp_path: Path, base_url: str, extra: str = "", *, example: bool = True) -> Path:
    """A url plan in ``tmp_path``, the example adapter copied next to it."""
    if example:
        shutil.copy(EXAMPLE, tmp_path / EXAMPLE.name)
    plan = tmp_path / "peak.yaml"
    plan.write_text(PLAN.format(base_url=base_url, extra=extra))
    return plan


def check(plan: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["target", "check", "--plan", str(plan), *args])


def report(result: Result) -> dict[str, Any]:
    assert result.exit_code in (0, 1), result.output
    return dict(json.loads(result.stdout))


def results(data: dict[str, Any]) -> dict[str, str]:
    return {line["check"]: line["status"] for line in data["checks"]}


@pytest.mark.integration
@pytest.mark.parametrize(
    ("extra", "args"),
    [(f"  adapter: {SHOP_ADAPTER}\n", ()), ("", ("--adapter", SHOP_ADAPTER))],
    ids=["adapter named in the plan", "adapter given with --adapter"],
)
def test_shopoms_with_its_adapter_passes_all_but_conservation(
    tmp_path: Path, shopoms: ShopOms, extra: str, args: tuple[str, ...]
) -> None:
    result = check(write_plan(tmp_path, shopoms.url, extra), *args, "--output", "json")
    data = report(result)
    assert result.exit_code == 0 and data["usable"] and data["sku"] == "ITM-001"
    assert results(data) == {
        **dict.fromkeys(EVERY_CHECK, "pass"), "counts exposed": "unsupported",
    }  # fmt: skip
    (counts,) = [line for line in data["checks"] if line["check"] == "counts exposed"]
    assert counts["judged"] == (
        "conservation: unsupported → the checker cannot check on hand = available + "
        "reserved + committed; everything else is judged"
    )


@pytest.mark.integration
def test_the_table_says_each_line_and_every_order_was_cancelled(
    tmp_path: Path, shopoms: ShopOms
) -> None:
    result = check(write_plan(tmp_path, shopoms.url, f"  adapter: {SHOP_ADAPTER}\n"))
    assert result.exit_code == 0, result.output
    assert f"adapter {SHOP_ADAPTER}, test sku ITM-001" in result.output
    cells = [line.split("│") for line in result.output.splitlines() if line.startswith("│ ")]
    rows = {cell[1].strip(): cell[2].strip() for cell in cells if cell[1].strip()}
    assert rows == {**dict.fromkeys(EVERY_CHECK, "pass"), "counts exposed": "unsupported"}
    assert "adapter usable (exit 0)" in result.output
    with httpx.Client(base_url=shopoms.url, trust_env=False) as http:
        truth = http.get("/api/v2/inventory/ITM-001").json()["warehouses"]
        assert [w["available"] for w in truth] == [20, 20]  # all stock back
        checkouts = [http.get(f"/api/v2/checkout/CK-{n:06d}") for n in range(1, 4)]
    states = [c.json()["state"] for c in checkouts if c.status_code == 200]
    assert states == ["cancelled", "sold_out"]  # the test order, the sold-out attempt
    assert all(c.json()["buyer"] == "peakops-synthetic" for c in checkouts[:2])


@pytest.fixture(scope="module")
def reference_oms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    work = tmp_path_factory.mktemp("oms")
    with LocalPlatform(OmsConfig(replicas=2, skus=20), work) as platform:
        yield platform


@pytest.mark.integration
def test_the_reference_oms_with_its_adapter_passes_every_line(
    tmp_path: Path, reference_oms: LocalPlatform
) -> None:
    extra = f"  truthUrl: {reference_oms.inventory_url}\n"
    data = report(check(write_plan(tmp_path, reference_oms.base_url, extra), "-o", "json"))
    assert data["usable"] and data["exitCode"] == 0 and data["adapter"] == REFERENCE_ADAPTER
    assert results(data) == dict.fromkeys(EVERY_CHECK, "pass")


@pytest.mark.integration
def test_shopoms_with_the_reference_adapter_fails_and_says_why(
    tmp_path: Path, shopoms: ShopOms
) -> None:
    extra = f"  truthUrl: {shopoms.url}\n  skus: [ITM-001]\n"
    plan = write_plan(tmp_path, shopoms.url, extra, example=False)
    result = check(plan, "--adapter", REFERENCE_ADAPTER, "--output", "json")
    assert result.exit_code == 1
    data = report(result)
    lines = {line["check"]: line for line in data["checks"]}
    assert not data["usable"]
    assert lines["truth readable"]["detail"] == "http 404 to GET /stock/ITM-001"
    assert lines["view web readable"]["status"] == "fail"
    assert lines["place one unit"]["detail"] == "POST /orders: http 404 read as fail (http 404)"
    assert lines["sold out"]["status"] == "skipped"


@pytest.mark.integration
def test_shopoms_without_a_truth_url_and_the_reference_adapter_has_no_truth(
    tmp_path: Path, shopoms: ShopOms
) -> None:
    plan = write_plan(tmp_path, shopoms.url, example=False)
    data = report(check(plan, "--adapter", REFERENCE_ADAPTER, "-o", "json"))
    assert data["checks"][0] == {
        "check": "truth readable", "status": "fail", "seconds": None,
        "detail": "list_skus() and the plan give no sku (is truthUrl set?)",
        "judged": "nothing can be judged: without the truth there is no baseline",
    }  # fmt: skip


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_oms_exits_3_before_any_order(tmp_path: Path) -> None:
    result = check(write_plan(tmp_path, f"http://127.0.0.1:{closed_port()}"))
    assert result.exit_code == 3, result.output
    assert "is not reachable: ConnectError" in result.output


@pytest.mark.parametrize(
    ("plan_text", "args", "message"),
    [
        (PLAN.format(base_url="http://127.0.0.1:9", extra="").replace("kind: url", "kind: embedded")
         .replace("  baseUrl: http://127.0.0.1:9\n", ""), (),
         "target check needs target.kind: url"),
        (PLAN.format(base_url="http://203.0.113.7:8080", extra="  allowHosts: [203.0.113.7]\n"),
         (), "allowed by the plan but not by the operator"),
        (PLAN.format(base_url="http://127.0.0.1:9", extra=""), ("--adapter", "nope:Adapter"),
         "cannot import 'nope'"),
        (PLAN.format(base_url="http://127.0.0.1:9", extra=""), ("--adapter", "no-colon"),
         "expected 'package.module:ClassName'"),
        ("apiVersion: peakops/v1\ntarget: {kind: url}\n", (), "target.baseUrl"),
    ],
    ids=[
        "an embedded target has nothing to check",
        "a host the operator did not allow is refused before any connection",
        "an adapter module that does not exist",
        "an adapter spec that is not module:Class",
        "a plan that does not load",
    ],
)  # fmt: skip
def test_a_bad_plan_or_adapter_exits_2(
    tmp_path: Path, plan_text: str, args: tuple[str, ...], message: str
) -> None:
    plan = tmp_path / "peak.yaml"
    plan.write_text(plan_text)
    result = check(plan, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_help_says_it_places_real_orders_and_cancels_them() -> None:
    result = CliRunner().invoke(app, ["target", "check", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "PLACES REAL ORDERS" in text and "cancels every one of them" in text


class FakeOms:
    """An OMS and its adapter in memory, for the judgments without a process.

    ``duplicates``: every place applies again (no idempotency); ``lookups``: False makes
    ``order_by_key`` and ``order_cancelled`` answer info; ``oversells``: any quantity is
    accepted."""

    def __init__(self, *, duplicates: bool = False, lookups: bool = True,
                 oversells: bool = False) -> None:  # fmt: skip
        self.stock = {"dc": 3}
        self.orders: dict[str, dict[str, Any]] = {}
        self.duplicates, self.lookups, self.oversells = duplicates, lookups, oversells

    def send(self, call: HttpCall) -> tuple[int, dict[str, Any] | None]:
        if call.method == "GET":
            return 200, {}
        if call.method == "DELETE":
            order = self.orders[call.path.rsplit("/", 1)[1]]
            if order["state"] == "placed":
                self.stock["dc"] += order["qty"]
                order["state"] = "cancelled"
            return 200, {"id": order["id"]}
        body = call.json or {}
        known = [o for o in self.orders.values() if o["key"] == body["key"]]
        if known and not self.duplicates:
            return 200, {"id": known[0]["id"]}
        if body["qty"] > self.stock["dc"] and not self.oversells:
            return 409, None
        order_id = f"o-{len(self.orders) + 1}"
        self.orders[order_id] = {"id": order_id, "key": body["key"], "qty": body["qty"],
                                 "state": "placed"}  # fmt: skip
        self.stock["dc"] -= body["qty"]
        return 201, {"id": order_id}

    # the adapter
    def place_call(self, key: str, channel: str, sku: str, qty: int, location: str | None,
                   customer: str = "c") -> HttpCall:  # fmt: skip
        return HttpCall("POST", "/o", {"key": key, "qty": qty})

    def place_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome:
        if status in (200, 201) and body:
            return Outcome("ok", body["id"], "dc")
        return Outcome("fail", reason="out_of_stock") if status == 409 else Outcome("info")

    def cancel_call(self, order_id: str, channel: str, location: str | None) -> HttpCall:
        return HttpCall("DELETE", f"/o/{order_id}")

    def cancel_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome:
        return Outcome("ok") if status == 200 else Outcome("info")

    def cancel_order(self, order_id: str, location: str | None) -> Outcome:
        return self.cancel_outcome(*self.send(self.cancel_call(order_id, "web", location)))

    def stock_check_call(self, sku: str, channel: str) -> HttpCall:
        return HttpCall("GET", "/s")

    def order_by_key(self, key: str) -> Outcome:
        known = [o for o in self.orders.values() if o["key"] == key]
        if not self.lookups:
            return Outcome("info", reason="cannot tell")
        return Outcome("ok", known[0]["id"], "dc") if known else Outcome("fail")

    def order_cancelled(self, order_id: str) -> Outcome:
        if not self.lookups:
            return Outcome("info", reason="cannot tell")
        return Outcome("ok" if self.orders[order_id]["state"] == "cancelled" else "fail")

    def read_truth(self, sku: str) -> list[StockRow]:
        return [StockRow(sku, "dc", self.stock["dc"])]

    def read_all_truth(self) -> list[StockRow]:
        return self.read_truth("A")

    def read_view(self, sku: str, channel: str) -> list[StockRow]:
        return self.read_truth(sku)

    def list_skus(self) -> list[str]:
        return ["A"]


def run_fake(oms: FakeOms) -> dict[str, CheckLine]:
    check = Conformance(oms, oms.send, channels=["web"], wait_s=0.2, sleep=lambda _s: None)
    check.run()
    check.cleanup()
    return {line.check: line for line in check.lines}


def test_a_fake_oms_that_keeps_its_word_passes_but_conservation() -> None:
    lines = run_fake(FakeOms())
    assert {c: line.status for c, line in lines.items() if line.status != "pass"} == {
        "counts exposed": "unsupported"
    }


def test_an_oms_that_applies_a_retried_key_again_fails_the_retry() -> None:
    oms = FakeOms(duplicates=True)
    lines = run_fake(oms)
    assert lines["retry same key"].status == "fail"
    assert lines["retry same key"].detail.endswith("truth 3 → 1")
    assert oms.stock == {"dc": 3}  # the duplicate was cancelled too, at cleanup


def test_an_oms_that_cannot_look_orders_up_is_unsupported_not_failed() -> None:
    lines = run_fake(FakeOms(lookups=False))
    assert lines["lookup by key"].status == "unsupported"
    assert lines["cancel lookup"].status == "unsupported"
    assert lines["lookup by key"].judged.startswith("unknown place outcomes stay unknown")
    assert all(line.status in ("pass", "unsupported") for line in lines.values())


def test_an_oms_that_sells_what_it_does_not_have_fails_and_is_cleaned_up() -> None:
    oms = FakeOms(oversells=True)
    lines = run_fake(oms)
    assert lines["sold out"].status == "fail"
    assert "it sold what it does not have" in lines["sold out"].detail
    assert oms.stock == {"dc": 3} and "cleanup" not in lines
