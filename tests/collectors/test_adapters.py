"""Choosing, checking and building the plan's adapter; where the test SKUs come from.

Adapter modules are written next to a plan in ``tmp_path`` (each under its own module
name: Python caches imports by name). ``peakops plan validate`` is driven through
Typer's ``CliRunner``: a bad adapter exits 2 naming the plan's line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from cli import app
from collectors.adapter import Outcome, ReferenceOmsAdapter
from collectors.adapters import (
    REQUIRED_METHODS,
    AdapterError,
    adapter_problems,
    build_adapter,
    check_plan_adapter,
    load_adapter_class,
    parse_sku_lines,
    plan_adapter,
    run_headers,
    target_skus,
)
from slo.errors import InfraError, PlanError, UsageError
from slo.loader import load_plan, load_plan_text

PLAN = """\
apiVersion: peakops/v1
target:
  kind: url
  baseUrl: http://127.0.0.1:9
  allowHosts: [127.0.0.1]
  adapter: {adapter}
{extra}load: {{duration: 60s, baseline: 10}}
slos:
  objectives:
    - {{id: errors, kind: error_ratio, max: 0.01}}
"""

METHODS = {
    "place_call": "(self, key, channel, sku, qty, location, customer)",
    "place_outcome": "(self, status, body)",
    "cancel_call": "(self, order_id, channel, location)",
    "cancel_outcome": "(self, status, body)",
    "stock_check_call": "(self, sku, channel)",
    "order_by_key": "(self, key)",
    "order_cancelled": "(self, order_id)",
    "read_truth": "(self, sku)",
    "read_all_truth": "(self)",
    "read_view": "(self, sku, channel)",
    "list_skus": "(self)",
    "cancel_order": "(self, order_id, location)",
}
_names = count(1)


def adapter_source(cls: str = "ShopAdapter", *, skip: str = "", **signatures: str) -> str:
    """A module with an adapter class: every method (but ``skip``) as a stub returning
    ``self.answers[name]``; ``signatures`` replace some."""
    lines = [
        f"class {cls}:",
        "    def __init__(self, base_url, truth_url, *, store_urls=None, region='eu', **extra):",
        "        self.args = (base_url, truth_url, store_urls, region, extra)",
        "        self.answers = {}",
    ]
    for name, args in {**METHODS, **signatures}.items():
        if name != skip:
            lines += [f"    def {name}{args}:", f"        return self.answers.get({name!r})"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def module(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Writes an adapter module next to the plan; returns its (unique) module name."""
    written: list[str] = []

    def write(source: str) -> str:
        name = f"shop_adapter_{next(_names)}"
        (tmp_path / f"{name}.py").write_text(source)
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def write_plan(tmp_path: Path, adapter: str, extra: str = "") -> Path:
    path = tmp_path / "peak.yaml"
    path.write_text(PLAN.format(adapter=adapter, extra=extra))
    return path


def test_the_contract_has_the_test_customer_and_cancel_order() -> None:
    assert REQUIRED_METHODS["place_call"] == 6 and REQUIRED_METHODS["cancel_order"] == 2
    assert adapter_problems(ReferenceOmsAdapter) == []


def test_an_adapter_next_to_the_plan_is_found_checked_and_built(
    tmp_path: Path, module: Callable[[str], str]
) -> None:
    name = module(adapter_source())
    adapter: Any = build_adapter(
        f"{name}:ShopAdapter", "http://oms", None, options={"region": "us"},
        store_urls={"store-1": "http://s1"}, search_path=[tmp_path],
        headers=run_headers("run-1"),
    )  # fmt: skip
    base_url, truth_url, store_urls, region, extra = adapter.args
    assert (base_url, truth_url, store_urls, region) == (
        "http://oms",
        None,
        {"store-1": "http://s1"},
        "us",
    )
    assert extra == {"headers": run_headers("run-1")}
    assert run_headers("run-1") == {
        "X-Peakops-Run-Id": "run-1", "baggage": "peakops.run_id=run-1,peakops.synthetic=true",
    }  # fmt: skip


def test_headers_go_only_to_a_constructor_that_takes_them(
    tmp_path: Path, module: Callable[[str], str]
) -> None:
    source = (
        adapter_source()
        .replace(", region='eu', **extra):", ", region='eu'):")
        .replace("region, extra)", "region, None)")
    )
    name = module(source)
    adapter: Any = build_adapter(f"{name}:ShopAdapter", "http://oms", None, search_path=[tmp_path],
                                 headers=run_headers("run-1"))  # fmt: skip
    assert adapter.args[4] is None


def test_headers_swallowed_by_kwargs_that_cannot_take_them_are_left_out(
    tmp_path: Path, module: Callable[[str], str]
) -> None:
    source = adapter_source("Base") + (
        "class ShopAdapter(Base):\n"
        "    def __init__(self, base_url, truth_url, **kwargs):  # forwards to a strict base\n"
        "        super().__init__(base_url, truth_url, **kwargs)\n"
    )
    source = source.replace(", region='eu', **extra):", ", region='eu'):").replace(
        "region, extra)", "region, None)"
    )
    name = module(source)
    adapter: Any = build_adapter(f"{name}:ShopAdapter", "http://oms", None, search_path=[tmp_path],
                                 headers=run_headers("run-1"))  # fmt: skip
    assert adapter.args == ("http://oms", None, {}, "eu", None)


BAD_ADAPTERS = [
    pytest.param(
        lambda module: "no_such_module_anywhere:ShopAdapter",
        "cannot import 'no_such_module_anywhere': No module named 'no_such_module_anywhere'",
        id="a module that does not exist",
    ),
    pytest.param(
        lambda module: f"{module(adapter_source())}:NoSuchClass",
        "has no class 'NoSuchClass'",
        id="a class the module does not have",
    ),
    pytest.param(
        lambda module: f"{module(adapter_source(skip='cancel_order'))}:ShopAdapter",
        "ShopAdapter: missing method cancel_order()",
        id="a class missing a method",
    ),
    pytest.param(
        lambda module: (
            f"{module(adapter_source(place_call='(self, key, channel, sku, qty, location)'))}"
            ":ShopAdapter"
        ),
        "ShopAdapter: place_call() must take 6 argument(s) besides self",
        id="a method with the wrong signature (place_call without the customer)",
    ),
    pytest.param(
        lambda module: (
            f"{module('raise RuntimeError(chr(98) + chr(111) + chr(111) + chr(109))')}:X"
        ),
        "raised RuntimeError: boom",
        id="a module that raises while importing",
    ),
]


@pytest.mark.parametrize(("spec", "message"), BAD_ADAPTERS)
def test_plan_validate_refuses_a_bad_adapter_at_its_line_with_exit_2(
    tmp_path: Path, module: Callable[[str], str], spec: Callable[[Any], str], message: str
) -> None:
    plan = write_plan(tmp_path, spec(module))
    result = CliRunner().invoke(app, ["plan", "validate", str(plan)])
    assert result.exit_code == 2, result.output
    assert f"{plan}:6: target.adapter: " in result.output
    assert message in result.output.replace("\n", "")


def test_plan_validate_reports_a_bad_adapter_as_json_too(
    tmp_path: Path, module: Callable[[str], str]
) -> None:
    plan = write_plan(tmp_path, f"{module(adapter_source(skip='list_skus'))}:ShopAdapter")
    result = CliRunner().invoke(app, ["plan", "validate", str(plan), "--output", "json"])
    assert result.exit_code == 2
    (issue,) = json.loads(result.stdout)["issues"]
    assert (issue["line"], issue["field"]) == (6, "target.adapter")


def test_plan_validate_accepts_a_good_adapter_next_to_the_plan(
    tmp_path: Path, module: Callable[[str], str]
) -> None:
    plan = write_plan(tmp_path, f"{module(adapter_source())}:ShopAdapter")
    result = CliRunner().invoke(app, ["plan", "validate", str(plan)])
    assert result.exit_code == 0, result.output
    assert ": ok (" in result.output


def test_options_the_constructor_cannot_take_are_refused_at_their_line(
    tmp_path: Path, module: Callable[[str], str]
) -> None:
    source = adapter_source().replace(", region='eu', **extra):", ", region='eu'):")
    plan = write_plan(
        tmp_path, f"{module(source)}:ShopAdapter", "  adapterOptions:\n    colour: blue\n"
    )
    with pytest.raises(PlanError) as caught:
        check_plan_adapter(load_plan(plan), tmp_path, plan)
    (issue,) = caught.value.issues
    assert (issue.line, issue.field) == (7, "target.adapterOptions")
    assert "got an unexpected keyword argument 'colour'" in issue.message


def test_a_missing_sku_file_is_refused_at_its_line(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, "collectors.adapter:ReferenceOmsAdapter",
                      "  skus: {file: skus.txt}\n")  # fmt: skip
    with pytest.raises(PlanError) as caught:
        check_plan_adapter(load_plan(plan), tmp_path, plan)
    (issue,) = caught.value.issues
    assert (issue.line, issue.field) == (7, "target.skus.file")
    assert issue.message == f"{tmp_path / 'skus.txt'}: no such file (target.skus.file)"


def test_a_bad_sku_file_is_reported_at_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "skus.txt").write_text("A\nB\nA\n")
    plan = write_plan(tmp_path, "collectors.adapter:ReferenceOmsAdapter",
                      "  skus: {file: skus.txt}\n")  # fmt: skip
    with pytest.raises(PlanError) as caught:
        check_plan_adapter(load_plan(plan), tmp_path, plan)
    assert [str(i) for i in caught.value.issues] == [
        f"{tmp_path / 'skus.txt'}:3: duplicate SKU 'A' (first on line 1)"
    ]


def test_an_adapter_spec_outside_a_plan_file_is_refused_without_a_line() -> None:
    with pytest.raises(AdapterError, match=r"expected 'package\.module:ClassName'"):
        load_adapter_class("no_colon_here")


# -- building it for a run: secrets from the environment --------------------------------


def test_the_plans_adapter_is_built_with_secrets_from_the_environment(
    tmp_path: Path, module: Callable[[str], str]
) -> None:
    plan = load_plan(write_plan(tmp_path, f"{module(adapter_source())}:ShopAdapter",
                                "  adapterOptions: {token: {env: SHOP_TOKEN}}\n"))  # fmt: skip
    adapter: Any = plan_adapter(plan, base_url="http://oms", truth_url=None, plan_dir=tmp_path,
                                env={"SHOP_TOKEN": "t0k"}, run_id="run-7")  # fmt: skip
    assert adapter.args[4]["token"] == "t0k"
    assert adapter.args[4]["headers"]["X-Peakops-Run-Id"] == "run-7"
    with pytest.raises(UsageError, match="environment variable SHOP_TOKEN is not set"):
        plan_adapter(plan, base_url="http://oms", truth_url=None, plan_dir=tmp_path, env={})


# -- the test SKUs -----------------------------------------------------------------------


class Lister:
    def __init__(self, answer: list[str] | Exception) -> None:
        self.answer = answer
        self.asked = 0

    def list_skus(self) -> list[str]:
        self.asked += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def url_plan(extra: str = "") -> Any:
    return load_plan_text(PLAN.format(adapter="collectors.adapter:ReferenceOmsAdapter",
                                      extra=extra), "peak.yaml")  # fmt: skip


SKU_FILES = [
    pytest.param("SKU-1\nSKU-2\n", ["SKU-1", "SKU-2"], [], id="one SKU per line"),
    pytest.param(
        "# hot first\nSKU-1  # the hottest\n\n  SKU-2\nEAN#7\n",
        ["SKU-1", "SKU-2", "EAN#7"],
        [],
        id="comments, blank lines and spaces are skipped; a # inside a SKU is kept",
    ),
    pytest.param(
        "SKU-1\nSKU-2\nSKU-1\n",
        ["SKU-1", "SKU-2"],
        [(3, "duplicate SKU 'SKU-1' (first on line 1)")],
        id="a repeated SKU is named with both lines",
    ),
    pytest.param(
        "# nothing yet\n",
        [],
        [(1, "no SKUs in the file (one SKU per line, '#' starts a comment)")],
        id="a file without SKUs",
    ),
]


@pytest.mark.parametrize(("text", "skus", "problems"), SKU_FILES)
def test_sku_files_are_read_line_by_line(
    text: str, skus: list[str], problems: list[tuple[int, str]]
) -> None:
    assert parse_sku_lines(text) == (skus, problems)


def test_a_url_target_without_skus_asks_the_oms_and_keeps_its_order() -> None:
    lister = Lister(["SKU-B", "SKU-A", "SKU-B"])
    found = target_skus(url_plan(), None, lister)  # type: ignore[arg-type]
    assert found == (["SKU-B", "SKU-A"], "adapter.list_skus()")


def test_skus_listed_in_the_plan_are_used_without_asking_the_oms() -> None:
    lister = Lister(["X"])
    found = target_skus(url_plan("  skus: [HOT-1, COLD-2]\n"), None, lister)  # type: ignore[arg-type]
    assert found == (["HOT-1", "COLD-2"], "target.skus") and lister.asked == 0


def test_skus_may_come_from_a_file_next_to_the_plan(tmp_path: Path) -> None:
    (tmp_path / "skus.txt").write_text("# hottest first\nHOT-1\nCOLD-2\n")
    plan = url_plan("  skus: {file: skus.txt}\n")
    found = target_skus(plan, tmp_path, Lister([]))  # type: ignore[arg-type]
    assert found == (["HOT-1", "COLD-2"], "target.skus.file skus.txt")


def test_an_embedded_target_keeps_its_seeded_catalog() -> None:
    embedded = load_plan_text(
        PLAN.format(adapter="collectors.adapter:ReferenceOmsAdapter", extra="")
        .replace("  kind: url\n  baseUrl: http://127.0.0.1:9\n", "  kind: embedded\n"),
        "peak.yaml",
    )  # fmt: skip
    assert target_skus(embedded, None, Lister(["X"])) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ([], "list_skus() returned no SKUs: list the test SKUs in target.skus"),
        (httpx.ConnectError("refused"), "list_skus(): the oms did not answer: refused"),
        (KeyError("skus"), "list_skus() raised KeyError: 'skus'"),
    ],
    ids=["an empty list", "an oms that does not answer", "an adapter bug"],
)
def test_no_skus_from_the_oms_is_an_infrastructure_error_naming_the_call(
    answer: list[str] | Exception, message: str
) -> None:
    with pytest.raises(InfraError) as caught:
        target_skus(url_plan(), None, Lister(answer))  # type: ignore[arg-type]
    assert str(caught.value).startswith("target skus: collectors.adapter:ReferenceOmsAdapter.")
    assert message in str(caught.value) and caught.value.exit_code == 3


# -- the reference adapter: the customer and cancel_order ------------------------------


def reference(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> Any:
    return ReferenceOmsAdapter("http://orders", "http://inventory",
                               transport=httpx.MockTransport(handler), **kwargs)  # fmt: skip


def test_the_reference_adapter_sends_the_test_customer_in_the_order_body() -> None:
    call = reference(lambda r: httpx.Response(500)).place_call("k", "web", "SKU-1", 1, None, "qa")
    assert call.json["customer"] == "qa"


def test_cancel_order_cancels_on_the_orders_service_with_the_run_tag() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"order_id": "o-1", "status": "cancelled"})

    outcome = reference(handler, headers=run_headers("run-9")).cancel_order("o-1", "loc-1")
    assert outcome == Outcome("ok", "o-1", "loc-1")
    (request,) = seen
    assert (request.method, str(request.url)) == ("POST", "http://orders/orders/o-1/cancel")
    assert request.headers["X-Peakops-Run-Id"] == "run-9"


def test_cancel_order_tries_the_store_first_then_the_orders_service() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.host == "store1":  # an online order shipped from the store's stock
            return httpx.Response(404, json={"status": "not_found"})
        return httpx.Response(200, json={"status": "cancelled"})

    adapter = reference(handler, store_urls={"store-1": "http://store1"})
    assert adapter.cancel_order("o-2", "store-1").phase == "ok"
    assert seen == ["http://store1/orders/o-2/cancel", "http://orders/orders/o-2/cancel"]


@pytest.mark.parametrize(
    ("response", "phase", "reason"),
    [
        (httpx.Response(409, json={"status": "rejected", "error": "an order that is rejected "
                                   "cannot be cancelled"}),
         "fail", "http 409: an order that is rejected cannot be cancelled"),
        (httpx.Response(503, json={"status": "error", "error": "inventory timed out"}),
         "info", "http 503: inventory timed out"),
        (httpx.Response(502, text="<html>bad gateway</html>"), "info", "http 502"),
    ],
    ids=["refused", "unknown: the oms failed while cancelling", "unknown: an error page"],
)  # fmt: skip
def test_cancel_order_says_why_it_did_not_cancel(
    response: httpx.Response, phase: str, reason: str
) -> None:
    outcome = reference(lambda _r: response).cancel_order("o-3", None)
    assert (outcome.phase, outcome.reason) == (phase, reason)
