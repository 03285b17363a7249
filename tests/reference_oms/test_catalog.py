"""The seed catalog is a pure, deterministic function of its spec."""

from __future__ import annotations

import pytest

from reference_oms.catalog import CatalogSpec, location_ids, seed_stock, sku_ids


def test_names_are_zero_padded_skus_and_numbered_locations() -> None:
    assert sku_ids(3) == ["SKU-00001", "SKU-00002", "SKU-00003"]
    assert location_ids(2) == ["loc-1", "loc-2"]


def test_the_same_seed_gives_the_same_stock() -> None:
    spec = CatalogSpec(skus=50, locations=3, seed=123)
    assert seed_stock(spec) == seed_stock(CatalogSpec(skus=50, locations=3, seed=123))


def test_a_different_seed_gives_different_stock() -> None:
    assert seed_stock(CatalogSpec(seed=1)) != seed_stock(CatalogSpec(seed=2))


def test_every_sku_location_pair_is_seeded_within_the_range() -> None:
    spec = CatalogSpec(skus=20, locations=2, min_stock=3, max_stock=5)
    stock = seed_stock(spec)
    assert set(stock) == {(s, loc) for s in sku_ids(20) for loc in location_ids(2)}
    assert all(3 <= qty <= 5 for qty in stock.values())


@pytest.mark.parametrize(
    "kwargs",
    [{"skus": 0}, {"locations": 0}, {"min_stock": -1}, {"min_stock": 10, "max_stock": 5}],
    ids=["no skus", "no locations", "negative minimum", "minimum above maximum"],
)
def test_an_impossible_spec_is_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        CatalogSpec(**kwargs)
