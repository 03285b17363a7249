"""Where load may go: the plan's allowHosts and the operator's, URLs without secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from slo.errors import PlanError, UsageError
from slo.hosts import LOOPBACK, check_url, mask_url, operator_hosts
from slo.loader import load_plan_text
from tests.slo.test_loader import edit

PLAN_HOSTS = ("127.0.0.1", "localhost", "::1", "203.0.113.7", "oms.shop.example")
PASSWORD = "hunter2"


def check(url: str, operator: tuple[str, ...] = ()) -> str:
    return check_url(url, field="target.baseUrl", plan_hosts=PLAN_HOSTS, operator_hosts=operator)


@pytest.mark.parametrize(
    ("url", "operator", "expected"),
    [
        pytest.param("http://127.0.0.1:8080", (), "http://127.0.0.1:8080", id="loopback"),
        pytest.param("http://LOCALHOST:8080/", (), "http://localhost:8080", id="lowercased"),
        pytest.param("HTTP://[::1]:9000/api/", (), "http://[::1]:9000/api", id="ipv6 loopback"),
        pytest.param(
            "https://203.0.113.7:443/", ("203.0.113.7",), "https://203.0.113.7:443", id="both keys"
        ),
        pytest.param(
            "http://OMS.shop.example/v1/?x=1",
            ("oms.shop.example",),
            "http://oms.shop.example/v1?x=1",
            id="a query is kept, the trailing slash of the path is not",
        ),
    ],
)
def test_an_allowed_url_comes_back_normalised(
    url: str, operator: tuple[str, ...], expected: str
) -> None:
    assert check(url, operator) == expected


@pytest.mark.parametrize(
    ("url", "operator", "expected"),
    [
        pytest.param(
            "http://203.0.113.7:8080",
            (),
            "target.baseUrl: host '203.0.113.7' is allowed by the plan but not by the operator: "
            "set PEAKOPS_ALLOWED_HOSTS=203.0.113.7 or pass --allow-host 203.0.113.7",
            id="a non-loopback host needs the operator's key too",
        ),
        pytest.param(
            "http://198.51.100.1",
            ("198.51.100.1",),
            "target.baseUrl: host '198.51.100.1' is not in the plan's allowHosts "
            "(127.0.0.1, localhost, ::1, 203.0.113.7, oms.shop.example): "
            "add it to target.allowHosts",
            id="the operator alone cannot allow a host the plan does not list",
        ),
        pytest.param(
            "http://0.0.0.0:8080",
            ("0.0.0.0",),
            "target.baseUrl: host '0.0.0.0' is a wildcard address, not a host: "
            "name the host to send load to, e.g. 127.0.0.1",
            id="the unspecified address is refused",
        ),
        pytest.param(
            "http://[::]:8080",
            (),
            "target.baseUrl: host '::' is a wildcard address, not a host: "
            "name the host to send load to, e.g. 127.0.0.1",
            id="the ipv6 unspecified address is refused",
        ),
        pytest.param(
            "http://0:8080",
            (),
            "target.baseUrl: host '0' is a wildcard address, not a host: "
            "name the host to send load to, e.g. 127.0.0.1",
            id="a short form of 0.0.0.0 is refused",
        ),
        pytest.param(
            "http://*:8080",
            (),
            "target.baseUrl: host '*' is a wildcard address, not a host: "
            "name the host to send load to, e.g. 127.0.0.1",
            id="a star is refused",
        ),
        pytest.param(
            "http://:8080",
            (),
            "target.baseUrl: invalid URL 'http://:8080': it names no host",
            id="an empty host is refused",
        ),
        pytest.param(
            f"http://sre:{PASSWORD}@127.0.0.1:8080",
            (),
            "target.baseUrl: credentials in the URL (http://***@127.0.0.1:8080) are refused: "
            "a URL is written to run.json, logs and reports; give the target its "
            "credentials another way",
            id="credentials are refused and masked",
        ),
        pytest.param(
            f"http://sre:{PASSWORD}/x@127.0.0.1:8080",
            (),
            "target.baseUrl: invalid URL 'http://***@127.0.0.1:8080': "
            "expected http(s)://host[:port][/path]",
            id="a password with a raw slash is masked too",
        ),
        pytest.param(
            "ftp://127.0.0.1/",
            (),
            "target.baseUrl: invalid URL 'ftp://127.0.0.1/': expected http(s)://host[:port][/path]",
            id="only http and https",
        ),
        pytest.param(
            "http://127.0.0.1:99999",
            (),
            "target.baseUrl: invalid URL 'http://127.0.0.1:99999': "
            "expected http(s)://host[:port][/path]",
            id="a bad port",
        ),
    ],
)
def test_a_refused_url_names_the_field_the_host_and_what_to_do(
    url: str, operator: tuple[str, ...], expected: str
) -> None:
    with pytest.raises(UsageError) as caught:
        check(url, operator)
    assert str(caught.value) == expected
    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None  # a chained cause would carry the raw URL


def test_every_loopback_host_needs_no_operator_key() -> None:
    for host in LOOPBACK:
        netloc = f"[{host}]" if ":" in host else host
        assert check(f"http://{netloc}:1")


def test_operator_hosts_come_from_the_environment_and_the_flags() -> None:
    hosts = operator_hosts("203.0.113.7, OMS.shop.example  [2001:db8::1]", ["a.example,b.example"])
    assert hosts == {"203.0.113.7", "oms.shop.example", "2001:db8::1", "a.example", "b.example"}
    assert operator_hosts(None, []) == frozenset()
    assert operator_hosts("  ", []) == frozenset()


@pytest.mark.parametrize(
    ("env", "flags", "expected"),
    [
        pytest.param(
            "*",
            [],
            "PEAKOPS_ALLOWED_HOSTS: '*' is a wildcard, not a host: list each host load may go to",
            id="a star in the environment",
        ),
        pytest.param(
            None,
            ["0.0.0.0"],
            "--allow-host: '0.0.0.0' is a wildcard, not a host: list each host load may go to",
            id="the unspecified address in a flag",
        ),
        pytest.param(
            "[::]",
            [],
            "PEAKOPS_ALLOWED_HOSTS: '[::]' is a wildcard, not a host: "
            "list each host load may go to",
            id="the ipv6 unspecified address",
        ),
        pytest.param(
            "*.example.com",
            [],
            "PEAKOPS_ALLOWED_HOSTS: '*.example.com' is a wildcard, not a host: "
            "list each host load may go to",
            id="a wildcard domain",
        ),
        pytest.param(
            None,
            ["http://oms.example"],
            "--allow-host: 'http://oms.example' is not a host: "
            "write the host name or IP address alone, not a URL",
            id="a url instead of a host",
        ),
        pytest.param(
            None,
            ["oms.example:8080"],
            "--allow-host: 'oms.example:8080' is not a host: "
            "write it without a port (any port of it is allowed)",
            id="a host with a port",
        ),
    ],
)
def test_operator_hosts_refuse_wildcards_and_non_hosts(
    env: str | None, flags: list[str], expected: str
) -> None:
    with pytest.raises(UsageError) as caught:
        operator_hosts(env, flags)
    assert str(caught.value) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://u:p@h:1/x", "http://***@h:1/x"),
        ("https://token@h", "https://***@h"),
        ("u:p@h", "***@h"),
        ("http://u:p?ss@h/x", "http://***@h/x"),
        ("http://u:p#ss@h", "http://***@h"),
        ("http://h:1/x", "http://h:1/x"),
    ],
)
def test_mask_url_hides_anything_that_may_be_userinfo(url: str, expected: str) -> None:
    assert mask_url(url) == expected


TARGET = "  kind: embedded\n"


def url_target(lines: str) -> str:
    return edit((TARGET, "  kind: url\n" + lines))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            url_target(f"  baseUrl: https://sre:{PASSWORD}@127.0.0.1:8443/\n"),
            "peak.yaml:5: target.baseUrl: credentials in the URL (https://***@127.0.0.1:8443/) "
            "are refused: a URL is written to run.json, logs and reports; give the target "
            "its credentials another way",
            id="a base url with a password",
        ),
        pytest.param(
            url_target(
                f"  baseUrl: http://127.0.0.1:8080\n  truthUrl: http://sre:{PASSWORD}@127.0.0.1:81\n"
            ),
            "peak.yaml:6: target.truthUrl: credentials in the URL (http://***@127.0.0.1:81) "
            "are refused: a URL is written to run.json, logs and reports; give the target "
            "its credentials another way",
            id="a truth url with a password",
        ),
        pytest.param(
            url_target("  baseUrl: http://0.0.0.0:8080\n  allowHosts: [0.0.0.0]\n"),
            "peak.yaml:5: target.baseUrl: host '0.0.0.0' is a wildcard address, not a host: "
            "name the host to send load to, e.g. 127.0.0.1\n"
            "peak.yaml:6: target.allowHosts[0]: '0.0.0.0' is a wildcard, not a host: "
            "list each host load may go to",
            id="a wildcard base url and allowHosts entry",
        ),
        pytest.param(
            edit((TARGET, TARGET + "  allowHosts: [127.0.0.1, '*', '::']\n")),
            "peak.yaml:5: target.allowHosts[1]: '*' is a wildcard, not a host: "
            "list each host load may go to\n"
            "peak.yaml:5: target.allowHosts[2]: '::' is a wildcard, not a host: "
            "list each host load may go to",
            id="wildcards in allowHosts",
        ),
    ],
)
def test_the_plan_refuses_secrets_and_wildcards_in_urls_and_hosts(text: str, expected: str) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan_text(text, "peak.yaml")
    assert str(caught.value) == expected
    assert all(PASSWORD not in (issue.value or "") for issue in caught.value.issues)
    assert PASSWORD not in str(caught.value)


def test_base_urls_and_allow_hosts_are_normalised() -> None:
    text = url_target(
        "  baseUrl: HTTP://LocalHost:8080/\n"
        "  truthUrl: http://[::1]:8081/inventory/\n"
        "  allowHosts: [LOCALHOST, '[::1]', localhost]\n"
    )
    target = load_plan_text(text, "peak.yaml").target
    assert target.base_url == "http://localhost:8080"  # not http://localhost:8080//stock/...
    assert target.truth_url == "http://[::1]:8081/inventory"
    assert target.allow_hosts == ("localhost", "::1")


def test_the_cli_never_prints_a_password_from_the_plan(tmp_path: Path) -> None:
    plan = tmp_path / "peak.yaml"
    plan.write_text(url_target(f"  baseUrl: http://sre:{PASSWORD}@127.0.0.1:8080\n"))
    for output in ("table", "json"):
        result = CliRunner().invoke(app, ["plan", "validate", str(plan), "--output", output])
        assert result.exit_code == 2
        assert PASSWORD not in result.output and "***@127.0.0.1" in result.output
    issues = json.loads(result.stdout)["issues"]
    assert issues[0]["field"] == "target.baseUrl"
