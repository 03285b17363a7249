"""The plan loader: every bad plan becomes a PlanError naming file, line, field and value."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from slo.errors import PlanError
from slo.exitcodes import ExitCode
from slo.loader import load_plan, load_plan_text

BASE = """\
apiVersion: peakops/v1
name: black-friday
target:
  kind: embedded
load:
  duration: 60s
  baseline: 50
slos:
  objectives:
    - id: p99-orders
      kind: latency
      endpoint: POST /orders
      percentile: 99
      threshold: 250ms
"""

OBJECTIVE_AT_10 = """\
    - id: p99-orders
      kind: latency
      endpoint: POST /orders
      percentile: 99
      threshold: 250ms
"""


def edit(*replacements: tuple[str, str]) -> str:
    """BASE with each ``old`` (which must occur once) replaced by ``new``."""
    text = BASE
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


BAD_PLANS = [
    pytest.param(
        edit(("baseline: 50", "baseline: fast")),
        "peak.yaml:7: load.baseline: expected a number, got 'fast'",
        id="a baseline that is not a number names the field and the value",
    ),
    pytest.param(
        edit(("  baseline: 50\n", "  basline: 5\n  baseline: 50\n")),
        "peak.yaml:7: load.basline: unknown field (did you mean 'baseline'?)",
        id="a misspelt key points at itself and suggests the right one",
    ),
    pytest.param(
        edit(
            (
                "  baseline: 50\n",
                "  baseline: 50\nchaos:\n"
                "  - {experiment: store-offline, offset: 10s, duration: 5s}\n",
            )
        ),
        "peak.yaml:9: chaos[0].experiment: 'store-offline' cuts store-1's link to inventory: "
        "set target.stores to 1 or more",
        id="a store outage needs a store",
    ),
    pytest.param(
        edit(("  kind: embedded\n", "  kind: embedded\n  stores: 9\n")),
        "peak.yaml:5: target.stores: expected at most 8, got 9",
        id="too many store nodes",
    ),
    pytest.param(
        edit(("  kind: embedded\n", "  kind: embedded\n  flavour: vanilla\n")),
        "peak.yaml:5: target.flavour: unknown field "
        "(allowed here: kind, omsVersion, replicas, baseUrl, allowHosts, catalog, probes, "
        "truthUrl, stores, shipFromStore, adapter, adapterOptions, skus, maxUnits, "
        "testCustomer, cleanup)",
        id="an unknown key with no close match lists the allowed keys",
    ),
    pytest.param(
        edit(("threshold: 250ms", "threshold: 25Oms")),
        "peak.yaml:14: slos.objectives[0].threshold: invalid duration '25Oms': "
        "use a number and a unit, e.g. 250ms, 30s, 5m",
        id="a threshold with a typo in the number is an invalid duration",
    ),
    pytest.param(
        edit(("threshold: 250ms", "threshold: 250")),
        "peak.yaml:14: slos.objectives[0].threshold: invalid duration 250: "
        "use a number and a unit, e.g. 250ms, 30s, 5m",
        id="a threshold without a unit is refused rather than guessed",
    ),
    pytest.param(
        edit(("kind: latency", "kind: latncy")),
        "peak.yaml:11: slos.objectives[0].kind: unknown SLO kind 'latncy' "
        "(expected one of: latency, error_ratio, throughput, oversell, "
        "drift_outside_interval, convergence_lag, undersell_ratio, store_reconcile, recovery)",
        id="an unknown SLO kind lists the known kinds",
    ),
    pytest.param(
        edit(("      kind: latency\n", "")),
        "peak.yaml:10: slos.objectives[0].kind: missing required field",
        id="an SLO without a kind points at its list item",
    ),
    pytest.param(
        edit(("  baseline: 50\n", "  baseline: 50\n  channels: {web: 1, tv: 1}\n")),
        "peak.yaml:8: load.channels.tv: unknown channel 'tv' "
        "(expected one of: web, app, store, marketplace)",
        id="an unknown sales channel lists the known channels",
    ),
    pytest.param(
        edit(("  baseline: 50\n", "  baseline: 50\n  channels: {web: 0, app: 0}\n")),
        "peak.yaml:8: load.channels: channel weights must not all be zero",
        id="a channel mix with no weight at all is refused",
    ),
    pytest.param(
        edit(("  baseline: 50\n", "")),
        "peak.yaml:5: load.baseline: missing required field",
        id="a missing field points at its parent mapping",
    ),
    pytest.param(
        edit(("percentile: 99", "percentile: 150")),
        "peak.yaml:13: slos.objectives[0].percentile: expected at most 100, got 150",
        id="a percentile above 100 is out of range",
    ),
    pytest.param(
        edit(("  baseline: 50\n", "  baseline: 50\n  baseline: 60\n")),
        "peak.yaml:8: load.baseline: duplicate key 'baseline' (first defined on line 7)",
        id="a duplicate key is refused instead of the last one silently winning",
    ),
    pytest.param(
        edit(("  baseline: 50\n", "  baseline: 50\n  users: a: b\n")),
        "peak.yaml:8:11: invalid YAML: mapping values are not allowed here",
        id="malformed YAML names line and column",
    ),
    pytest.param(
        "- apiVersion: peakops/v1\n",
        "peak.yaml:1: expected a mapping with apiVersion: peakops/v1, got a list",
        id="a plan that is a list is refused",
    ),
    pytest.param(
        "just some text\n",
        "peak.yaml:1: expected a mapping with apiVersion: peakops/v1, got 'just some text'",
        id="a plan that is a plain string is refused",
    ),
    pytest.param(
        "# only a comment\n",
        "peak.yaml: the plan is empty (expected apiVersion: peakops/v1)",
        id="a plan with no content is refused",
    ),
    pytest.param(
        edit(("apiVersion: peakops/v1\n", "")),
        "peak.yaml:1: apiVersion: missing required field (expected peakops/v1)",
        id="a plan without apiVersion names the field",
    ),
    pytest.param(
        edit(("peakops/v1", "peakops/v9")),
        "peak.yaml:1: apiVersion: unsupported apiVersion 'peakops/v9' (supported: peakops/v1)",
        id="an unsupported apiVersion names the supported one",
    ),
    pytest.param(
        edit(("  kind: embedded\n", "  kind: url\n  baseUrl: https://oms.prod.example\n")),
        "peak.yaml:5: target.baseUrl: host 'oms.prod.example' is not in allowHosts "
        "(127.0.0.1, localhost)",
        id="a target url outside the allowlist is refused",
    ),
    pytest.param(
        edit(("  kind: embedded\n", "  kind: url\n")),
        "peak.yaml:3: target.baseUrl: missing required field (needed with kind: url)",
        id="a url target without a base url is refused",
    ),
    pytest.param(
        edit(("  kind: embedded\n", "  kind: embedded\n  catalog: {minStock: 300}\n")),
        "peak.yaml:5: target.catalog.minStock: minStock (300) must not exceed maxStock (200)",
        id="a stock range with min above max is refused",
    ),
    pytest.param(
        edit(("target:\n", "platform:\n  kind: kubernetes\n  namespace: shop\ntarget:\n")),
        "peak.yaml:3: platform.deployment: missing required field (needed with kind: kubernetes)",
        id="a kubernetes platform without a deployment is refused",
    ),
    pytest.param(
        edit(("slos:\n", "slos:\n  breachExitCode: 3\n")),
        "peak.yaml:9: slos.breachExitCode: exit code 3 is reserved for infrastructure errors; "
        "use 1 or a code from 6 to 125",
        id="a breach exit code that collides with a reserved one is refused",
    ),
    pytest.param(
        BASE + OBJECTIVE_AT_10,
        "peak.yaml:15: slos.objectives[1].id: duplicate SLO id 'p99-orders' "
        "(also used by objectives[0])",
        id="two SLOs with the same id are refused",
    ),
    pytest.param(
        edit(("id: p99-orders", "id: P99 Orders")),
        "peak.yaml:10: slos.objectives[0].id: invalid SLO id 'P99 Orders': "
        "use lowercase letters, digits, '-' and '_', starting with a letter or digit",
        id="an SLO id that is not a slug is refused",
    ),
    pytest.param(
        edit(("endpoint: POST /orders", "endpoint: orders")),
        "peak.yaml:12: slos.objectives[0].endpoint: invalid endpoint 'orders': "
        "use '*' for all requests or 'METHOD /route', e.g. 'POST /orders'",
        id="an endpoint that is not METHOD /route is refused",
    ),
    pytest.param(
        edit(("  objectives:\n" + OBJECTIVE_AT_10, "  objectives: []\n")),
        "peak.yaml:9: slos.objectives: must not be empty",
        id="a plan with no SLO is refused",
    ),
    pytest.param(
        BASE + "chaos:\n  - experiment: kill-replica\n    offset: 2m\n",
        "peak.yaml:17: chaos[0].offset: offset 2m is not before the end of the load (1m)",
        id="a chaos step that would start after the load is refused",
    ),
    pytest.param(
        edit(("  baseline: 50\n", "  baseline: 50\n  users: 2.5\n")),
        "peak.yaml:8: load.users: expected a whole number, got 2.5",
        id="a fractional number of users is refused",
    ),
    pytest.param(
        edit(("  baseline: 50\n", "  baseline: 50\n  profile: bfcm2\n")),
        "peak.yaml:8: load.profile: unknown profile 'bfcm2' "
        "(expected one of: constant, bfcm, flash_sale, soak, stress)",
        id="an unknown traffic profile lists the known profiles",
    ),
    pytest.param(
        edit(("  baseline: 50\n", "  baseline: 50\n  peak: 40\n")),
        "peak.yaml:8: load.peak: peak (40) must not be below baseline (50)",
        id="a peak below the baseline is refused at the peak",
    ),
    pytest.param(
        edit(("  baseline: 50\n", "  baseline: 0\n")),
        "peak.yaml:7: load.baseline: expected a number > 0, got 0",
        id="a baseline of zero orders per minute is refused",
    ),
    pytest.param(
        edit(("  baseline: 50\n", "  baseline: 50\n  peakMultiplier: 0.5\n")),
        "peak.yaml:8: load.peakMultiplier: expected a number >= 1, got 0.5",
        id="a peak multiplier below one is refused",
    ),
    pytest.param(
        edit(("  baseline: 50\n", "  baseline: 50\n  compression: 0\n")),
        "peak.yaml:8: load.compression: expected a number >= 0.01, got 0",
        id="a compression of zero is refused",
    ),
    pytest.param(
        edit(("  baseline: 50\n", "  baseline: 50\n  mode: half-open\n")),
        "peak.yaml:8: load.mode: expected 'open' or 'closed', got 'half-open'",
        id="an unknown load model lists open and closed",
    ),
    pytest.param(
        edit(("  baseline: 50\n", "  baseline: 50\n  arrivals: bursty\n")),
        "peak.yaml:8: load.arrivals: expected 'poisson' or 'uniform', got 'bursty'",
        id="an unknown arrival process lists poisson and uniform",
    ),
    pytest.param(
        edit(("  baseline: 50\n", "  baseline: 50\n  maxConcurrency: 0\n")),
        "peak.yaml:8: load.maxConcurrency: expected a number >= 1, got 0",
        id="a concurrency cap of zero is refused",
    ),
    pytest.param(
        edit(("  baseline: 50\n", "  baseline: 50\n  targetOrdersPerMinute: -5\n")),
        "peak.yaml:8: load.targetOrdersPerMinute: expected a number > 0, got -5",
        id="a negative orders-per-minute target is refused",
    ),
    pytest.param(
        BASE + "outputs:\n  junit: maybe\n",
        "peak.yaml:16: outputs.junit: expected true or false, got 'maybe'",
        id="a flag that is not a boolean is refused",
    ),
    pytest.param(
        edit(("  kind: embedded\n", "  kind: embedded\n  omsVersion: v3\n")),
        "peak.yaml:5: target.omsVersion: expected 'v1' or 'v2', got 'v3'",
        id="an unknown choice lists the allowed ones",
    ),
    # Every limit: test_plan_limits.py; chaos steps: test_chaos_steps.py; hosts: test_hosts.py.
    pytest.param(
        edit(("  kind: embedded\n", "  kind: embedded\n  catalog: {skus: 1000000000}\n")),
        "peak.yaml:5: target.catalog.skus: expected at most 100000, got 1000000000",
        id="a number past its upper bound names the limit",
    ),
    pytest.param(
        BASE + "chaos:\n  - {experiment: network-cut, offset: 50s, duration: 20s}\n",
        "peak.yaml:16: chaos[0].duration: offset 50s + duration 20s ends after the load (1m): "
        "shorten the fault, start it earlier, or lengthen the load",
        id="a chaos step that would outlive the load is refused",
    ),
    pytest.param(
        BASE + "chaos:\n  - {experiment: slow-db, offset: 10s}\n",
        "peak.yaml:16: chaos[0].experiment: unknown experiment 'slow-db' (known: kill-replica, "
        "zone-loss, network-cut, network-slow, network-flaky, store-offline)",
        id="an unknown experiment lists the known ones",
    ),
    pytest.param(
        edit(("  kind: embedded\n", "  kind: url\n  baseUrl: http://sre:hunter2@127.0.0.1\n")),
        "peak.yaml:5: target.baseUrl: credentials in the URL (http://***@127.0.0.1) are "
        "refused: a URL is written to run.json, logs and reports; give the target its "
        "credentials another way",
        id="a url with a password is refused without showing it",
    ),
    pytest.param(
        BASE.replace("load:\n  duration: 60s\n  baseline: 50\n", "load: fast\n"),
        "peak.yaml:5: load: expected a mapping, got 'fast'",
        id="a section that is not a mapping is refused",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_PLANS)
def test_a_bad_plan_is_reported_with_file_line_field_and_value(text: str, expected: str) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan_text(text, "peak.yaml")
    assert str(caught.value) == expected
    assert caught.value.exit_code == ExitCode.USAGE


def test_every_error_is_reported_not_only_the_first() -> None:
    text = edit(
        ("baseline: 50", "baseline: fast"),
        ("  kind: embedded\n", "  kind: embedded\n  replicas: 40\n"),
        ("threshold: 250ms", "threshold: 25Oms"),
    )
    with pytest.raises(PlanError) as caught:
        load_plan_text(text, "peak.yaml")
    assert [(issue.line, issue.field) for issue in caught.value.issues] == [
        (5, "target.replicas"),
        (8, "load.baseline"),
        (15, "slos.objectives[0].threshold"),
    ]


def test_an_issue_carries_the_bad_value_separately() -> None:
    with pytest.raises(PlanError) as caught:
        load_plan_text(edit(("baseline: 50", "baseline: fast")), "peak.yaml")
    (issue,) = caught.value.issues
    assert (issue.file, issue.line, issue.field, issue.value) == (
        "peak.yaml",
        7,
        "load.baseline",
        "'fast'",
    )


def test_messages_carry_no_pydantic_boilerplate() -> None:
    text = edit(("baseline: 50", "baseline: [1]"), ("percentile: 99", "percentile: {a: 1}"))
    with pytest.raises(PlanError) as caught:
        load_plan_text(text, "peak.yaml")
    message = str(caught.value)
    for noise in ("Input should", "type=", "errors.pydantic.dev", "validation error"):
        assert noise not in message


def test_a_valid_plan_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "peak.yaml"
    path.write_text(BASE, encoding="utf-8")
    assert load_plan(path).load.baseline_per_min == 50


def test_a_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "peak.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert load_plan(path).name == "black-friday"


def _missing(path: Path) -> None:
    pass


def _directory(path: Path) -> None:
    path.mkdir()


def _latin1(path: Path) -> None:
    path.write_bytes(b"apiVersion: x\nname: caf\xe9\n")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        pytest.param(_missing, "{path}: no such file", id="a missing file says so"),
        pytest.param(
            _directory,
            "{path}: is a directory, not a plan file",
            id="a directory is not a plan file",
        ),
        pytest.param(
            _latin1,
            "{path}:2: not UTF-8 text (byte 0xe9 cannot be decoded)",
            id="a file that is not utf-8 names the line of the bad byte",
        ),
        pytest.param(
            _empty,
            "{path}: the plan is empty (expected apiVersion: peakops/v1)",
            id="an empty file is refused",
        ),
    ],
)
def test_a_plan_file_that_cannot_be_read_is_a_plan_error(
    tmp_path: Path, setup: Callable[[Path], None], expected: str
) -> None:
    path = tmp_path / "peak.yaml"
    setup(path)
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert str(caught.value) == expected.format(path=path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_a_plan_error(tmp_path: Path) -> None:
    path = tmp_path / "peak.yaml"
    path.write_text(BASE, encoding="utf-8")
    path.chmod(0)
    with pytest.raises(PlanError, match="permission denied"):
        load_plan(path)


@pytest.mark.parametrize(
    "text",
    [
        "apiVersion: !!python/object/apply:os.system ['true']\n",
        "apiVersion: peakops/v1\ntarget: &t {catalog: *t}\n",
        "apiVersion: peakops/v1\n1: 2\n",
        "apiVersion: peakops/v1\n---\napiVersion: peakops/v1\n",
        "\t",
    ],
    ids=[
        "python tags are not constructed",
        "a recursive anchor is an error, not a crash",
        "a non-text key is an error, not a crash",
        "a second document is refused",
        "a tab is an error, not a crash",
    ],
)
def test_hostile_yaml_is_a_plan_error_never_a_traceback(text: str) -> None:
    with pytest.raises(PlanError):
        load_plan_text(text, "peak.yaml")
