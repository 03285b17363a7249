"""`python -m reference_oms` parses its commands and refuses unsafe settings."""

from __future__ import annotations

import pytest

from reference_oms.__main__ import build_parser, main


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["inventory", "--help"], ["orders", "--help"], ["store", "--help"]],
    ids=["top level", "inventory", "orders", "store"],
)
def test_help_works(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_inventory_defaults() -> None:
    args = build_parser().parse_args(["inventory", "--port", "1", "--db", "x.db"])
    assert (args.host, args.skus, args.locations, args.seed, args.min_stock, args.max_stock) == (
        "127.0.0.1",
        200,
        2,
        42,
        20,
        200,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["inventory", "--port", "1", "--db", "x", "--host", "0.0.0.0"],
        [
            "orders",
            "--port",
            "1",
            "--admin-port",
            "2",
            "--db",
            "x",
            "--version",
            "v1",
            "--inventory-url",
            "http://example.com:80",
        ],
        [
            "orders",
            "--port",
            "1",
            "--admin-port",
            "1",
            "--db",
            "x",
            "--version",
            "v1",
            "--inventory-url",
            "http://127.0.0.1:9",
        ],
        [
            "orders",
            "--port",
            "1",
            "--admin-port",
            "2",
            "--db",
            "x",
            "--version",
            "v3",
            "--inventory-url",
            "http://127.0.0.1:9",
        ],
        ["inventory", "--port", "1", "--db", "x", "--min-stock", "9", "--max-stock", "1"],
    ],
    ids=[
        "a non-loopback bind address",
        "a non-loopback inventory url",
        "the admin port equal to the public port",
        "an unknown version",
        "an empty stock range",
    ],
)
def test_unsafe_or_impossible_settings_exit_with_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err
