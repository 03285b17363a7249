"""The inventory store keeps the invariant under concurrency and logs every change in order."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from reference_oms.catalog import CatalogSpec
from reference_oms.inventory_store import InventoryStore, UnknownItemError

SPEC = CatalogSpec(skus=5, locations=2, seed=1, min_stock=4, max_stock=4)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[InventoryStore]:
    store = InventoryStore(str(tmp_path / "inv.db"), SPEC)
    yield store
    store.close()


def counts(store: InventoryStore, sku: str, loc: str = "loc-1") -> dict[str, int]:
    return store.stock(sku)[0][sku][loc]


def test_a_new_database_is_seeded_with_the_catalog(store: InventoryStore) -> None:
    assert store.skus == [f"SKU-0000{i}" for i in range(1, 6)]
    assert store.locations == ["loc-1", "loc-2"]
    assert counts(store, "SKU-00001") == {
        "on_hand": 4,
        "available": 4,
        "reserved": 0,
        "committed": 0,
    }
    assert store.stock()[1] == 0


def test_concurrent_atomic_reservations_never_oversell(store: InventoryStore) -> None:
    def reserve(i: int) -> int:
        return store.reserve(f"o{i}", "loc-1", [("SKU-00001", 1)], atomic=True).code

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(reserve, range(30)))
    assert codes.count(200) == 4
    assert counts(store, "SKU-00001")["available"] == 0


def test_an_order_that_does_not_fully_fit_reserves_nothing(store: InventoryStore) -> None:
    outcome = store.reserve("o1", "loc-1", [("SKU-00001", 2), ("SKU-00002", 5)], atomic=True)
    assert (outcome.code, outcome.body["status"], outcome.body["sku"]) == (
        409,
        "out_of_stock",
        "SKU-00002",
    )
    assert counts(store, "SKU-00001")["available"] == 4
    assert store.changes_after(0) == []


def test_a_repeated_order_id_returns_the_first_result_without_reapplying(
    store: InventoryStore,
) -> None:
    first = store.reserve("o1", "loc-1", [("SKU-00001", 3)], atomic=True)
    again = store.reserve("o1", "loc-1", [("SKU-00001", 3)], atomic=True)
    assert first == again
    assert counts(store, "SKU-00001")["committed"] == 3


def test_non_atomic_reservations_drive_available_negative(store: InventoryStore) -> None:
    for i in range(6):
        assert store.reserve(f"o{i}", "loc-1", [("SKU-00001", 1)], atomic=False).code == 200
    after = counts(store, "SKU-00001")
    assert after["available"] == -2
    assert after["on_hand"] == after["available"] + after["reserved"] + after["committed"]


def test_release_returns_stock_once_and_refuses_unknown_orders(store: InventoryStore) -> None:
    store.reserve("o1", "loc-2", [("SKU-00003", 2)], atomic=True)
    assert store.release("o1").code == 200
    assert store.release("o1").code == 200
    assert counts(store, "SKU-00003", "loc-2")["available"] == 4
    assert store.release("nope").code == 404
    store.reserve("o2", "loc-2", [("SKU-00003", 99)], atomic=True)
    assert store.release("o2").code == 409


def test_the_change_log_is_gapless_and_carries_absolute_levels(store: InventoryStore) -> None:
    store.reserve("o1", "loc-1", [("SKU-00001", 1), ("SKU-00002", 2)], atomic=True)
    store.release("o1")
    changes = store.changes_after(0)
    assert [c["seq"] for c in changes] == [1, 2, 3, 4]
    assert [(c["sku"], c["available"]) for c in changes] == [
        ("SKU-00001", 3),
        ("SKU-00002", 2),
        ("SKU-00001", 4),
        ("SKU-00002", 4),
    ]
    assert store.changes_after(2, limit=1)[0]["seq"] == 3
    assert store.stock()[1] == 4


def test_unknown_skus_and_locations_are_refused(store: InventoryStore) -> None:
    with pytest.raises(UnknownItemError, match="unknown sku"):
        store.reserve("o1", "loc-1", [("SKU-99999", 1)], atomic=True)
    with pytest.raises(UnknownItemError, match="unknown location"):
        store.reserve("o1", "loc-9", [("SKU-00001", 1)], atomic=True)


def test_state_survives_reopening_the_database(tmp_path: Path) -> None:
    path = str(tmp_path / "inv.db")
    first = InventoryStore(path, SPEC)
    first.reserve("o1", "loc-1", [("SKU-00001", 3)], atomic=True)
    first.close()
    reopened = InventoryStore(path, CatalogSpec(skus=5, locations=2, seed=99))
    try:
        assert counts(reopened, "SKU-00001")["committed"] == 3
        assert reopened.stock()[1] == 1
    finally:
        reopened.close()
