"""The ``target:`` section of a plan: which OMS, its seeded catalog, stores and probes."""

from __future__ import annotations

from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from slo.conventions import CHANNELS
from slo.fields import PlanModel, Seconds
from slo.issues import raise_issues

__all__ = ["Catalog", "Probes", "Target", "channel_locations"]


class Catalog(PlanModel):
    """The synthetic SKU catalog seeded into the target before the load starts."""

    skus: int = Field(default=200, ge=1)
    locations: int = Field(default=2, ge=1, le=50)
    seed: int = 42
    min_stock: int = Field(default=20, ge=0)
    max_stock: int = Field(default=200, ge=0)

    @model_validator(mode="after")
    def _check_stock_range(self) -> Self:
        if self.min_stock > self.max_stock:
            message = f"minStock ({self.min_stock}) must not exceed maxStock ({self.max_stock})"
            raise_issues("Catalog", [(("minStock",), message, self.min_stock)])
        return self


class Probes(PlanModel):
    """Stock probes: how often the source of truth and the channel views are read."""

    rate: float = Field(default=10.0, gt=0, le=1000)
    """SKUs probed per second (truth plus every channel view of each)."""
    hot_skus: int = Field(default=10, ge=0)
    """Hottest SKUs probed every other time; the rest of the catalog rotates."""
    settle_timeout_s: Seconds = Field(
        default=15.0, gt=0, validation_alias="settleTimeout", serialization_alias="settleTimeout"
    )
    view_staleness_s: Seconds = Field(
        default=2.0, ge=0, validation_alias="viewStaleness", serialization_alias="viewStaleness"
    )
    """How far behind the truth a channel view may be before it counts as drift."""


class Target(PlanModel):
    """The OMS under test: the embedded reference OMS, or one reached by URL."""

    kind: Literal["embedded", "url"] = "embedded"
    oms_version: Literal["v1", "v2"] = "v1"
    replicas: int = Field(default=2, ge=1, le=16)
    base_url: str | None = None
    allow_hosts: tuple[str, ...] = Field(default=("127.0.0.1", "localhost"), min_length=1)
    catalog: Catalog = Catalog()
    probes: Probes = Probes()
    truth_url: str | None = None
    """The inventory (source of truth) of a ``kind: url`` target, for stock probes."""
    stores: int = Field(default=0, ge=0, le=8)
    """Store nodes of the embedded OMS (``store-1`` ...): they serve the ``store`` channel
    from their own stock and keep selling when cut off from inventory (store-and-forward)."""
    ship_from_store: bool = False
    """Online channels may also sell store stock (the race a store outage turns into oversell)."""

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
    if kind == "embedded":
        return None if base_url is None else "only allowed with kind: url (embedded picks its own)"
    if base_url is None:
        return "missing required field (needed with kind: url)"
    host = _http_host(base_url)
    if host is None:
        return f"invalid URL {base_url!r}: expected http(s)://host[:port]"
    if host not in {allowed.lower() for allowed in allow_hosts}:
        return f"host {host!r} is not in allowHosts ({', '.join(allow_hosts)})"
    return None


def _http_host(url: str) -> str | None:
    """The host of an http(s) URL, or ``None`` if it is not a usable one."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        return None
    return parts.hostname if parts.scheme in ("http", "https") and parts.hostname else None
