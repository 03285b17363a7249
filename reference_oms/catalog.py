"""Deterministic seed catalog: SKU and location names and their starting stock."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = [
    "STORE_PREFIX",
    "CatalogSpec",
    "is_store_location",
    "location_ids",
    "seed_stock",
    "sku_ids",
    "store_ids",
]

STORE_PREFIX = "store-"


@dataclass(frozen=True)
class CatalogSpec:
    """How big the seeded catalog is and how much stock each (sku, location) starts with.

    `locations` counts warehouses (`loc-N`); `stores` counts shops (`store-N`) whose
    stock only their own store node sells, unless orders runs with ship-from-store.
    """

    skus: int = 200
    locations: int = 2
    seed: int = 42
    min_stock: int = 20
    max_stock: int = 200
    stores: int = 0

    def __post_init__(self) -> None:
        if self.skus < 1 or self.locations < 1:
            raise ValueError(f"catalog needs at least one sku and one location, got {self}")
        if self.stores < 0:
            raise ValueError(f"number of stores must be >= 0, got {self.stores}")
        if not 0 <= self.min_stock <= self.max_stock:
            raise ValueError(
                f"stock range must satisfy 0 <= min <= max, got {self.min_stock}..{self.max_stock}"
            )


def sku_ids(count: int) -> list[str]:
    """Return `SKU-00001` .. `SKU-<count>` (zero-padded to five digits)."""
    return [f"SKU-{i:05d}" for i in range(1, count + 1)]


def location_ids(count: int) -> list[str]:
    """Return `loc-1` .. `loc-<count>` (warehouses)."""
    return [f"loc-{i}" for i in range(1, count + 1)]


def store_ids(count: int) -> list[str]:
    """Return `store-1` .. `store-<count>`."""
    return [f"{STORE_PREFIX}{i}" for i in range(1, count + 1)]


def is_store_location(name: str) -> bool:
    """Whether `name` is a store's location (its stock is sold by that store's node)."""
    return name.startswith(STORE_PREFIX)


def seed_stock(spec: CatalogSpec) -> dict[tuple[str, str], int]:
    """Return the starting on-hand units per (sku, location), a pure function of `spec`.

    Draws happen in sku-major, location-minor order so the same seed always gives the
    same catalog. Stores draw from their own generator, so adding stores leaves every
    warehouse's stock exactly as it was for the same seed.
    """
    warehouses = _draw(random.Random(spec.seed), spec, location_ids(spec.locations))
    stores = _draw(random.Random(f"{spec.seed}-stores"), spec, store_ids(spec.stores))
    return {**warehouses, **stores}


def _draw(
    rng: random.Random, spec: CatalogSpec, locations: list[str]
) -> dict[tuple[str, str], int]:
    return {
        (sku, loc): rng.randint(spec.min_stock, spec.max_stock)
        for sku in sku_ids(spec.skus)
        for loc in locations
    }
