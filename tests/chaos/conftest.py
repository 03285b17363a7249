"""Fixtures: a stand-in LocalPlatform with a fault proxy, and its chaos handle file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.handle import Replica, write_handle
from platforms.local import LocalPlatform, OmsConfig
from tests.platforms.conftest import standin_env

__all__ = ["standin_env"]

LINK = "orders-inventory"


@pytest.fixture
def platform(standin_env: None, tmp_path: Path) -> Iterator[LocalPlatform]:
    """Inventory, a fault proxy and two stand-in orders replicas on 127.0.0.1."""
    config = OmsConfig(replicas=2, module="standin_oms", fault_proxy=True)
    with LocalPlatform(config, tmp_path / "oms", poll_interval_s=0.05) as running:
        yield running


def write_platform_handle(platform: LocalPlatform, path: Path) -> Path:
    replicas = [Replica(r.name, r.pid, r.admin_url) for r in platform.replicas()]
    write_handle(
        path, base_url=platform.base_url, fault_proxies=platform.fault_proxies(), replicas=replicas
    )
    return path


@pytest.fixture
def handle(platform: LocalPlatform, tmp_path: Path) -> Path:
    """The platform's handle file (as a rehearsal writes it)."""
    return write_platform_handle(platform, tmp_path / "chaos-platform.json")
