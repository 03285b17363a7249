"""Who shops and what they buy: channel mix and Zipf-skewed SKU popularity.

Pure and seeded: the same seed gives the same sequence of choices, so a rehearsal's
traffic can be replayed. No Locust here; the user classes draw from these.
"""

from __future__ import annotations

import itertools
import random
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Catalog", "ChannelMix", "sku_name"]


def sku_name(index: int) -> str:
    """The reference OMS's SKU naming: ``SKU-00001`` for index 0."""
    return f"SKU-{index + 1:05d}"


@dataclass(frozen=True)
class Catalog:
    """SKUs ranked by popularity; rank 1 is the hottest (Zipf with exponent ``s``)."""

    skus: Sequence[str]
    zipf_s: float

    def __post_init__(self) -> None:
        if not self.skus:
            raise ValueError("a catalog needs at least one SKU")
        weights = [1.0 / (rank**self.zipf_s) for rank in range(1, len(self.skus) + 1)]
        object.__setattr__(self, "_cum", list(itertools.accumulate(weights)))

    @classmethod
    def reference(cls, size: int, zipf_s: float) -> Catalog:
        return cls([sku_name(i) for i in range(size)], zipf_s)

    def pick(self, rng: random.Random) -> str:
        cum: list[float] = self._cum  # type: ignore[attr-defined]
        return self.skus[bisect_left(cum, rng.random() * cum[-1])]

    def hottest(self, n: int) -> list[str]:
        return list(self.skus[:n])


@dataclass(frozen=True)
class ChannelMix:
    """Channels weighted by their share of orders."""

    weights: Mapping[str, float]

    def pick(self, rng: random.Random) -> str:
        names = list(self.weights)
        return rng.choices(names, weights=[self.weights[n] for n in names])[0]
