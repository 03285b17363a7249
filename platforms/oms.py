"""How the reference OMS is configured and the command lines that start its processes.

Only command lines: ``reference_oms`` is started by module name and never imported.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FAULT_LINK",
    "HOST",
    "OmsConfig",
    "fault_proxy_argv",
    "inventory_argv",
    "orders_argv",
    "store_argv",
    "store_link",
]

HOST = "127.0.0.1"
"""Every process of the local platform listens here only."""

FAULT_LINK = "orders-inventory"
"""The link a fault proxy sits on: orders replicas reach inventory through it."""


def store_link(location: str) -> str:
    """The link a store node reaches inventory over (``store-1-inventory``)."""
    return f"{location}-inventory"


@dataclass(frozen=True)
class OmsConfig:
    """How to run the reference OMS.

    ``port`` is the public orders port (None: a free one); ``module`` is what
    ``python -m`` runs (tests swap in a stand-in). With ``traces_dir`` each process
    appends its spans to ``<traces_dir>/<process name>.jsonl`` (OTLP-JSON lines).
    With ``fault_proxy`` the orders replicas reach inventory through a fault proxy
    (``platforms.faultproxy``), where latency and network faults can be injected,
    and each store node over its own proxied link. ``stores`` store nodes
    (``store-1`` ...) sell the ``store`` channel from their own location; with
    ``ship_from_store`` the online channels may sell store stock too.
    """

    version: str = "v1"
    replicas: int = 2
    skus: int = 200
    locations: int = 2
    seed: int = 42
    min_stock: int = 20
    max_stock: int = 200
    python: str = sys.executable
    module: str = "reference_oms"
    port: int | None = None
    traces_dir: Path | None = None
    fault_proxy: bool = False
    stores: int = 0
    ship_from_store: bool = False


def _traces_flag(traces_file: Path | None) -> list[str]:
    return [] if traces_file is None else ["--traces-file", str(traces_file)]


def inventory_argv(
    config: OmsConfig, *, port: int, db: Path, traces_file: Path | None = None
) -> list[str]:
    """Command line of the inventory service."""
    return [
        *(config.python, "-m", config.module, "inventory"),
        *("--host", HOST, "--port", str(port), "--db", str(db)),
        *("--skus", str(config.skus), "--locations", str(config.locations)),
        *("--seed", str(config.seed)),
        *("--min-stock", str(config.min_stock), "--max-stock", str(config.max_stock)),
        *(["--stores", str(config.stores)] if config.stores else []),
        *_traces_flag(traces_file),
    ]


def orders_argv(
    config: OmsConfig,
    *,
    port: int,
    admin_port: int,
    inventory_url: str,
    db: Path,
    version: str,
    replica_id: int,
    traces_file: Path | None = None,
) -> list[str]:
    """Command line of one orders replica; every replica shares ``port`` and ``db``."""
    return [
        *(config.python, "-m", config.module, "orders"),
        *("--host", HOST, "--port", str(port), "--admin-port", str(admin_port)),
        *("--inventory-url", inventory_url, "--db", str(db)),
        *("--version", version, "--replica-id", str(replica_id)),
        *(["--ship-from-store"] if config.ship_from_store else []),
        *_traces_flag(traces_file),
    ]


def store_argv(
    config: OmsConfig,
    *,
    port: int,
    location: str,
    inventory_url: str,
    db: Path,
    traces_file: Path | None = None,
) -> list[str]:
    """Command line of the store node selling ``location`` (``store-N``)."""
    return [
        *(config.python, "-m", config.module, "store"),
        *("--host", HOST, "--port", str(port), "--location", location),
        *("--inventory-url", inventory_url, "--db", str(db)),
        *_traces_flag(traces_file),
    ]


def fault_proxy_argv(
    *, link: str, listen_port: int, upstream_port: int, control_port: int
) -> list[str]:
    """Command line of the fault proxy on ``link``; it is ours, so it runs on our interpreter."""
    return [
        *(sys.executable, "-m", "platforms.faultproxy", "--name", link),
        *("--listen", f"{HOST}:{listen_port}", "--upstream", f"{HOST}:{upstream_port}"),
        *("--control", f"{HOST}:{control_port}"),
    ]
