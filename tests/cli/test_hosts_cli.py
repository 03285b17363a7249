"""The operator, not the plan, decides where load may go: refused before any socket opens.

No test here sends traffic off the machine: every socket connection is intercepted, and
one to anything but loopback is recorded and refused (as a closed port would answer).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app

PLAN = """\
apiVersion: peakops/v1
target:
  kind: url
  baseUrl: http://203.0.113.7:8080
  allowHosts: [203.0.113.7]
load: {duration: 5s, baseline: 60}
slos:
  objectives:
    - {id: errors, kind: error_ratio, max: 0.01}
"""


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every connection attempted to a host other than loopback (each is refused)."""
    attempted: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            attempted.append(address)
            raise ConnectionRefusedError(111, "refused by the test: no traffic off the machine")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.delenv("PEAKOPS_ALLOWED_HOSTS", raising=False)
    return attempted


def rehearse(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> Any:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    args = ["rehearse", "--plan", str(plan), "--run-dir", str(tmp_path / "runs"), *extra]
    return CliRunner().invoke(app, args, env=env or {})


def test_a_host_only_the_plan_allows_is_refused_before_any_connection(
    tmp_path: Path, connects: list[Any]
) -> None:
    result = rehearse(tmp_path)
    assert result.exit_code == 2, result.output
    assert "allowed by the plan but not by the operator" in result.output
    assert "--allow-host 203.0.113.7" in result.output
    assert connects == []


@pytest.mark.parametrize(
    ("extra", "env"),
    [(("--allow-host", "203.0.113.7"), None), ((), {"PEAKOPS_ALLOWED_HOSTS": "203.0.113.7"})],
    ids=["allowed with --allow-host", "allowed with PEAKOPS_ALLOWED_HOSTS"],
)
def test_a_host_both_keys_allow_is_the_one_used(
    tmp_path: Path, connects: list[Any], extra: tuple[str, ...], env: dict[str, str] | None
) -> None:
    result = rehearse(tmp_path, *extra, env=env)
    # The host was tried (and refused by the test): unreachable, exit 3, before any flood.
    assert [address[:2] for address in connects] == [("203.0.113.7", 8080)]
    assert result.exit_code == 3, result.output
    assert "http://203.0.113.7:8080 is not reachable" in result.output


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://0.0.0.0:8080", "wildcard"),
        ("http://[::]:8080", "wildcard"),
        ("http://user:secret@127.0.0.1:8080", "credentials"),
    ],
    ids=["the unspecified IPv4 address", "the unspecified IPv6 address", "credentials"],
)
def test_wildcards_and_credentials_are_refused_before_any_connection(
    tmp_path: Path, connects: list[Any], url: str, words: str
) -> None:
    result = CliRunner().invoke(
        app, ["load", "--url", url, "--rate", "10/s", "--duration", "2s",
              "--run-dir", str(tmp_path / "runs")],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert words in result.output and "secret" not in result.output
    assert connects == []
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
