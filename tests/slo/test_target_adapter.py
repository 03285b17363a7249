"""The plan fields of "your own OMS": adapter, adapterOptions, skus, maxUnits,
testCustomer and cleanup; their errors name file, line and field, and never show a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slo.errors import PlanError, UsageError
from slo.loader import line_of_field, load_plan_text
from slo.plan import Plan, plan_from_snapshot, plan_snapshot
from slo.target import (
    DEFAULT_ADAPTER,
    SkuFile,
    Target,
    looks_secret,
    resolve_adapter_options,
)

PLAN = """\
apiVersion: peakops/v1
target:
  kind: url
  baseUrl: http://127.0.0.1:8080
  allowHosts: [127.0.0.1]
{extra}load: {{duration: 60s, baseline: 10}}
slos:
  objectives:
    - {{id: errors, kind: error_ratio, max: 0.01}}
"""


def plan(extra: str = "", kind: str = "url") -> Plan:
    text = PLAN.format(extra=extra)
    if kind == "embedded":
        text = text.replace("  kind: url\n  baseUrl: http://127.0.0.1:8080\n", "  kind: embedded\n")
    return load_plan_text(text, "peak.yaml")


def errors(extra: str, kind: str = "url") -> list[str]:
    with pytest.raises(PlanError) as caught:
        plan(extra, kind)
    return [str(issue) for issue in caught.value.issues]


def test_a_plan_without_the_new_fields_gets_their_defaults() -> None:
    target = plan().target
    assert target.adapter == DEFAULT_ADAPTER == "collectors.adapter:ReferenceOmsAdapter"
    assert (target.adapter_options, target.skus, target.max_units) == ({}, None, None)
    assert target.test_customer == "peakops-synthetic"
    assert target.cleanup is None and target.cleanup_enabled


@pytest.mark.parametrize(
    ("kind", "cleanup", "enabled"),
    [("url", "", True), ("url", "  cleanup: false\n", False),
     ("embedded", "", False), ("embedded", "  cleanup: true\n", True)],
    ids=["a url target cleans up by default", "a url target may opt out",
         "an embedded target does not by default (its OMS is thrown away)",
         "an embedded target may opt in"],
)  # fmt: skip
def test_cleanup_is_on_by_default_for_url_targets_only(
    kind: str, cleanup: str, enabled: bool
) -> None:
    assert plan(cleanup, kind).target.cleanup_enabled is enabled


def test_every_field_is_read_and_survives_the_snapshot() -> None:
    the_plan = plan(
        "  adapter: acme.oms_adapter:AcmeOmsAdapter\n"
        "  adapterOptions:\n"
        "    region: eu-west\n"
        "    retries: 3\n"
        "    token: {env: ACME_TOKEN}\n"
        "    auth: {scheme: bearer, password: {env: ACME_PASSWORD}}\n"
        "  skus: [SKU-9, 4006381333931, SKU-1]\n"
        "  maxUnits: 500\n"
        "  testCustomer: qa-bot@acme\n"
        "  cleanup: false\n"
    )
    target = the_plan.target
    assert target.adapter == "acme.oms_adapter:AcmeOmsAdapter"
    assert target.adapter_options["token"] == {"env": "ACME_TOKEN"}
    assert target.skus == ("SKU-9", "4006381333931", "SKU-1")  # numbers read as text
    assert (target.max_units, target.test_customer, target.cleanup) == (500, "qa-bot@acme", False)
    snapshot = json.loads(json.dumps(plan_snapshot(the_plan)))
    assert snapshot["target"]["adapterOptions"]["token"] == {"env": "ACME_TOKEN"}
    assert plan_from_snapshot(snapshot, "run.json") == the_plan


def test_a_sku_file_is_a_path_kept_as_written() -> None:
    the_plan = plan("  skus: {file: skus/test.txt}\n")
    assert the_plan.target.skus == SkuFile(file="skus/test.txt")
    assert plan_from_snapshot(plan_snapshot(the_plan), "run.json") == the_plan


BAD = [
    pytest.param(
        "  adapter: acme.AcmeOmsAdapter\n",
        "peak.yaml:6: target.adapter: invalid adapter 'acme.AcmeOmsAdapter': expected "
        "'package.module:ClassName', e.g. acme_adapter:AcmeOmsAdapter",
        id="an adapter spec without a colon",
    ),
    pytest.param(
        "  adapter: 'acme-oms:Adapter'\n",
        "peak.yaml:6: target.adapter: invalid adapter 'acme-oms:Adapter': expected "
        "'package.module:ClassName', e.g. acme_adapter:AcmeOmsAdapter",
        id="a module name that is no Python name",
    ),
    pytest.param(
        "  adapterOptions:\n    region: eu\n    auth: {env: 9LIVES}\n",
        "peak.yaml:8: target.adapterOptions.auth.env: expected an environment variable name "
        "(letters, digits, '_'), got '9LIVES'",
        id="an environment reference to a name no variable can have",
    ),
    pytest.param(
        "  adapterOptions: [a, b]\n",
        "peak.yaml:6: target.adapterOptions: expected a mapping, got a list",
        id="options that are not a mapping",
    ),
    pytest.param(
        "  adapterOptions:\n    since: 2025-11-28\n",
        "peak.yaml:7: target.adapterOptions.since: expected text, a number, true/false, a list "
        "or a mapping, got 2025-11-28",
        id="an option YAML reads as a date (not JSON: it would not survive the snapshot)",
    ),
    pytest.param(
        "  skus: [SKU-1, SKU-2, SKU-1]\n",
        "peak.yaml:6: target.skus[2]: duplicate SKU (first at [0])",
        id="a SKU listed twice",
    ),
    pytest.param(
        "  skus: [SKU-1, '']\n",
        "peak.yaml:6: target.skus[1]: expected a SKU (text), got ''",
        id="an empty SKU",
    ),
    pytest.param(
        "  skus: []\n",
        "peak.yaml:6: target.skus: must not be empty (leave target.skus out to ask the OMS)",
        id="an empty SKU list",
    ),
    pytest.param(
        "  skus: {path: skus.txt}\n",
        "peak.yaml:6: target.skus.path: unknown field (allowed here: file)",
        id="a SKU file mapping with another key",
    ),
    pytest.param(
        "  maxUnits: 0\n",
        "peak.yaml:6: target.maxUnits: expected a number >= 1, got 0",
        id="a unit cap of zero",
    ),
    pytest.param(
        "  testCustomer: qa bot\n",
        "peak.yaml:6: target.testCustomer: invalid test customer 'qa bot': use letters, "
        "digits and '.', '_', '@', ':', '+', '-' (at most 128)",
        id="a test customer with a space",
    ),
]


@pytest.mark.parametrize(("extra", "expected"), BAD)
def test_a_bad_field_is_reported_with_file_line_and_field(extra: str, expected: str) -> None:
    assert expected in errors(extra)


def test_skus_are_refused_for_an_embedded_target() -> None:
    assert errors("  skus: [SKU-1]\n", kind="embedded") == [
        "peak.yaml:5: target.skus: only allowed with kind: url (embedded sells its seeded "
        "target.catalog)"
    ]


SECRETS = [
    pytest.param("  adapterOptions:\n    token: s3cr3t-value\n", "token", id="token"),
    pytest.param("  adapterOptions:\n    apiKey: s3cr3t-value\n", "apiKey", id="apiKey"),
    pytest.param(
        "  adapterOptions:\n    client_secret: s3cr3t-value\n", "client_secret", id="client_secret"
    ),
    pytest.param("  adapterOptions:\n    password: s3cr3t-value\n", "password", id="password"),
    pytest.param(
        "  adapterOptions:\n    login:\n      user: bot\n      pass: s3cr3t-value\n",
        "login.pass",
        id="a nested key that looks secret",
    ),
    pytest.param(
        "  adapterOptions:\n    bearerTokens: [s3cr3t-value]\n",
        "bearerTokens[0]",
        id="a list under a key that looks secret",
    ),
]


@pytest.mark.parametrize(("extra", "field"), SECRETS)
def test_a_literal_secret_is_refused_at_its_line_and_never_shown(extra: str, field: str) -> None:
    with pytest.raises(PlanError) as caught:
        plan(extra)
    (issue,) = caught.value.issues
    assert issue.field == f"target.adapterOptions.{field}"
    assert issue.line == len(extra.splitlines()) + 5
    assert issue.value == "'***'"
    assert "write {env: NAME}" in issue.message
    shown = str(caught.value) + json.dumps([vars(i) for i in caught.value.issues])
    assert "s3cr3t" not in shown


def test_a_secret_through_the_environment_and_plain_options_are_accepted() -> None:
    options = plan(
        "  adapterOptions:\n    token: {env: SHOP_TOKEN}\n    keyPrefix: 7\n    authEnabled: true\n"
    ).target.adapter_options
    assert options == {"token": {"env": "SHOP_TOKEN"}, "keyPrefix": 7, "authEnabled": True}


@pytest.mark.parametrize(
    ("key", "secret"),
    [("token", True), ("apiKey", True), ("X-Auth", True), ("sessionCookie", True),
     ("region", False), ("timeout_s", False), ("retries", False)],
)  # fmt: skip
def test_which_option_names_look_secret(key: str, secret: bool) -> None:
    assert looks_secret(key) is secret


def test_environment_references_are_replaced_when_the_adapter_is_built() -> None:
    options = {"token": {"env": "SHOP_TOKEN"}, "auth": {"user": "bot", "pw": {"env": "PW"}},
               "hosts": [{"env": "HOST_A"}], "region": "eu"}  # fmt: skip
    env = {"SHOP_TOKEN": "t0k", "PW": "pw", "HOST_A": "a.example"}
    assert resolve_adapter_options(options, env) == {
        "token": "t0k", "auth": {"user": "bot", "pw": "pw"}, "hosts": ["a.example"],
        "region": "eu",
    }  # fmt: skip


def test_a_missing_variable_is_a_usage_error_naming_it_and_the_option() -> None:
    with pytest.raises(UsageError) as caught:
        resolve_adapter_options({"auth": {"token": {"env": "SHOP_TOKEN"}}}, {})
    assert str(caught.value) == (
        "target.adapterOptions.auth.token: environment variable SHOP_TOKEN is not set"
    )


def test_python_code_may_build_a_target_with_the_new_fields() -> None:
    target = Target(kind="url", base_url="http://127.0.0.1:1", skus=("A",), max_units=3)
    assert (target.skus, target.max_units, target.cleanup_enabled) == (("A",), 3, True)


def test_the_line_of_a_field_is_found_in_the_plan_file(tmp_path: Path) -> None:
    path = tmp_path / "peak.yaml"
    path.write_text(PLAN.format(extra="  maxUnits: 5\n  adapter: acme:Acme\n"))
    assert line_of_field(path, ("target", "adapter")) == 7
    assert line_of_field(path, ("target", "adapterOptions")) == 2  # absent: its parent
    assert line_of_field(tmp_path / "missing.yaml", ("target",)) is None
