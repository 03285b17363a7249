"""Fixtures shared across the test packages: ShopOMS, the second OMS, as a process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.shopoms import ShopOms, running_shopoms


@pytest.fixture
def shopoms() -> Iterator[ShopOms]:
    """A correct ShopOMS on a free 127.0.0.1 port (12 items, 20 units per warehouse)."""
    with running_shopoms() as oms:
        yield oms


@pytest.fixture
def shopoms_lost_update() -> Iterator[ShopOms]:
    """ShopOMS with its lost-update oversell bug switched on (5 units per warehouse)."""
    with running_shopoms(bug="lost-update", stock=5) as oms:
        yield oms
