"""Deterministic seed catalog: SKU and location names and their starting stock."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["CatalogSpec", "location_ids", "seed_stock", "sku_ids"]


@dataclass(frozen=True)
class CatalogSpec:
    """How big the seeded catalog is and how much stock each (sku, location) starts with."""

    skus: int = 200
    locations: int = 2
    seed: int = 42
    min_stock: int = 20
    max_stock: int = 200

    def __post_init__(self) -> None:
        if self.skus < 1 or self.locations < 1:
            raise ValueError(f"catalog needs at least one sku and one location, got {self}")
        if not 0 <= self.min_stock <= self.max_stock:
            raise ValueError(
                f"stock range must satisfy 0 <= min <= max, got {self.min_stock}..{self.max_stock}"
            )


def sku_ids(count: int) -> list[str]:
    """Return `SKU-00001` .. `SKU-<count>` (zero-padded to five digits)."""
    return [f"SKU-{i:05d}" for i in range(1, count + 1)]


def location_ids(count: int) -> list[str]:
    """Return `loc-1` .. `loc-<count>`."""
    return [f"loc-{i}" for i in range(1, count + 1)]


def seed_stock(spec: CatalogSpec) -> dict[tuple[str, str], int]:
    """Return the starting on-hand units per (sku, location), a pure function of `spec`.

    Draws happen in sku-major, location-minor order so the same seed always gives the
    same catalog.
    """
    rng = random.Random(spec.seed)
    return {
        (sku, loc): rng.randint(spec.min_stock, spec.max_stock)
        for sku in sku_ids(spec.skus)
        for loc in location_ids(spec.locations)
    }
