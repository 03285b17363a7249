"""The ``target:`` section of a plan: which OMS, its seeded catalog, stores and probes."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, Self

from pydantic import Field, ModelWrapValidatorHandler, field_validator, model_validator

from slo.conventions import CHANNELS
from slo.fields import PlanModel, Seconds, at_most_s
from slo.hosts import host_entry_problem, mask_url, normalise_host, normalise_url, url_host
from slo.issues import Loc, raise_issues

__all__ = [
    "DEFAULT_HOT_SKUS",
    "MAX_STOCK_CELLS",
    "SEED_MAX",
    "SEED_MIN",
    "Catalog",
    "Probes",
    "Target",
    "channel_locations",
]

SEED_MIN: Final = -(2**63)
SEED_MAX: Final = 2**63 - 1
"""Seeds fit a signed 64-bit integer, as every JSON reader of run.json and SQLite expect."""

MAX_STOCK_CELLS: Final = 1_000_000
"""SKUs x (locations + stores) at most: the reference OMS seeds every cell into SQLite
(the seeding alone holds ~200 bytes per cell in memory) and the drift checker tracks
an interval per cell. A million cells is ~200 MB; 1e9 SKUs took the inventory process
to 3.4 GB before its health check timed out."""


class Catalog(PlanModel):
    """The synthetic SKU catalog seeded into the target before the load starts."""

    # 100k SKUs is a large retailer's active range; the load generator and the drift
    # checker keep per-SKU state (see also MAX_STOCK_CELLS, checked with the stores).
    skus: int = Field(default=200, ge=1, le=100_000)
    locations: int = Field(default=2, ge=1, le=50)
    seed: int = Field(default=42, ge=SEED_MIN, le=SEED_MAX)
    # A million units of one SKU in one place is beyond any store or DC; larger stock
    # also makes oversell (the drift checker's point) impossible to provoke.
    min_stock: int = Field(default=20, ge=0, le=1_000_000)
    max_stock: int = Field(default=200, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _check_stock_range(self) -> Self:
        if self.min_stock > self.max_stock:
            message = f"minStock ({self.min_stock}) must not exceed maxStock ({self.max_stock})"
            raise_issues("Catalog", [(("minStock",), message, self.min_stock)])
        return self


DEFAULT_HOT_SKUS: Final = 10
"""Hot SKUs probed when the plan does not say (fewer in a smaller catalog)."""


class Probes(PlanModel):
    """Stock probes: how often the source of truth and the channel views are read."""

    # Each probe reads the truth and every channel view: 1000/s is ~5000 reads/s on top
    # of the flood, already more than the reference OMS's inventory serves comfortably.
    rate: float = Field(default=10.0, gt=0, le=1000)
    """SKUs probed per second (truth plus every channel view of each)."""
    # Hot SKUs are probed every other time: beyond ~1000 they are no longer "hot" and
    # the rest of the catalog is never probed.
    hot_skus: int = Field(default=DEFAULT_HOT_SKUS, ge=0, le=1000)
    """Hottest SKUs probed every other time; the rest of the catalog rotates. At most
    ``catalog.skus``; the default is capped at it."""
    # The run waits this long after the load with the target up: 10 min is a generous
    # replication lag; longer is an OMS that does not converge, which the run reports.
    settle_timeout_s: Annotated[Seconds, at_most_s(600)] = Field(
        default=15.0, gt=0, validation_alias="settleTimeout", serialization_alias="settleTimeout"
    )
    # A view 5 min behind the truth is an outage, not staleness: beyond it the drift
    # checker would excuse almost any oversell as a stale read.
    view_staleness_s: Annotated[Seconds, at_most_s(300)] = Field(
        default=2.0, ge=0, validation_alias="viewStaleness", serialization_alias="viewStaleness"
    )
    """How far behind the truth a channel view may be before it counts as drift."""


class Target(PlanModel):
    """The OMS under test: the embedded reference OMS, or one reached by URL."""

    kind: Literal["embedded", "url"] = "embedded"
    oms_version: Literal["v1", "v2"] = "v1"
    replicas: int = Field(default=2, ge=1, le=16)
    base_url: str | None = None
    """Normalised: lowercase scheme and host, no trailing slash (``//stock/...`` else)."""
    allow_hosts: tuple[str, ...] = Field(default=("127.0.0.1", "localhost"), min_length=1)
    """Hosts the plan allows load to go to (lowercase, IPv6 without brackets). A host
    outside loopback needs the operator's consent too (``slo.hosts.check_url``)."""
    catalog: Catalog = Catalog()
    probes: Probes = Probes()
    truth_url: str | None = None
    """The inventory (source of truth) of a ``kind: url`` target, for stock probes."""
    stores: int = Field(default=0, ge=0, le=8)
    """Store nodes of the embedded OMS (``store-1`` ...): they serve the ``store`` channel
    from their own stock and keep selling when cut off from inventory (store-and-forward)."""
    ship_from_store: bool = False
    """Online channels may also sell store stock (the race a store outage turns into oversell)."""

    @field_validator("base_url", "truth_url")
    @classmethod
    def _normalise_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalise_url(value)
        except ValueError as err:
            # Never the raw value: it may carry a password.
            raise_issues("Target", [((), str(err), mask_url(value))])

    @field_validator("allow_hosts")
    @classmethod
    def _check_allow_hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        problems: list[tuple[Loc, str, object]] = []
        for index, entry in enumerate(value):
            problem = host_entry_problem(entry)
            if problem:
                problems.append(((index,), problem, entry))
        if problems:
            raise_issues("Target", problems)
        return tuple(dict.fromkeys(normalise_host(entry) for entry in value))

    @model_validator(mode="after")
    def _check_base_url(self) -> Self:
        problem = _base_url_problem(self.kind, self.base_url, self.allow_hosts)
        if problem:
            raise_issues("Target", [(("baseUrl",), problem, self.base_url)])
        if self.truth_url is not None:
            problem = _base_url_problem("url", self.truth_url, self.allow_hosts)
            if self.kind == "embedded":
                problem = "only allowed with kind: url (embedded knows its inventory)"
            if problem:
                raise_issues("Target", [(("truthUrl",), problem, self.truth_url)])
        if self.kind == "url" and self.stores:
            message = "only allowed with kind: embedded (peakops starts the store nodes)"
            raise_issues("Target", [(("stores",), message, self.stores)])
        return self

    @model_validator(mode="after")
    def _check_catalog_size(self) -> Self:
        catalog = self.catalog
        cells = catalog.skus * (catalog.locations + self.stores)
        if cells > MAX_STOCK_CELLS:
            where = f"{catalog.locations} locations" + (
                f" + {self.stores} stores" if self.stores else ""
            )
            message = (
                f"{catalog.skus} SKUs x {where} = {cells} stock cells, expected at most "
                f"{MAX_STOCK_CELLS} (each is seeded into the OMS and tracked for drift)"
            )
            raise_issues("Target", [(("catalog", "skus"), message, catalog.skus)])
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _cap_hot_skus(cls, data: Any, handler: ModelWrapValidatorHandler[Target]) -> Target:
        target = handler(data)
        probes, skus = target.probes, target.catalog.skus
        if probes.hot_skus <= skus:
            return target
        if "hot_skus" in probes.model_fields_set:
            message = f"expected at most catalog.skus ({skus}), got {probes.hot_skus}"
            raise_issues("Target", [(("probes", "hotSkus"), message, probes.hot_skus)])
        # The default in a catalog smaller than it: every SKU is hot (what the probes
        # did anyway), written so that the plan's snapshot reads back the same.
        capped = probes.model_copy(update={"hot_skus": skus})
        return target.model_copy(update={"probes": capped})


def channel_locations(target: Target) -> tuple[tuple[str, str], ...]:
    """Where each channel may sell, as ``(channel, fnmatch pattern)``, when the target says.

    The embedded OMS names warehouses ``loc-N`` and stores ``store-N``; with store nodes
    and no ``shipFromStore`` only the stores sell store stock, and only that.
    """
    if target.kind != "embedded" or not target.stores or target.ship_from_store:
        return ()
    online = tuple((channel, "loc-*") for channel in CHANNELS if channel != "store")
    return (*online, ("store", "store-*"))


def _base_url_problem(kind: str, base_url: str | None, allow_hosts: tuple[str, ...]) -> str | None:
    """What is wrong with an already normalised URL given the target's kind and hosts."""
    if kind == "embedded":
        return None if base_url is None else "only allowed with kind: url (embedded picks its own)"
    if base_url is None:
        return "missing required field (needed with kind: url)"
    host = url_host(base_url)
    if host not in allow_hosts:
        return f"host {host!r} is not in allowHosts ({', '.join(allow_hosts)})"
    return None
