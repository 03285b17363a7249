"""The ``target:`` section of a plan: which OMS, how peakops talks to it (its adapter),
its test SKUs and customer, the seeded catalog, stores and probes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal, Self

from pydantic import Field, ModelWrapValidatorHandler, field_validator, model_validator

from slo.conventions import CHANNELS
from slo.errors import UsageError
from slo.fields import PlanModel, Seconds, at_most_s, check_name
from slo.hosts import host_entry_problem, mask_url, normalise_host, normalise_url, url_host
from slo.issues import Loc, format_path, raise_issues, show

__all__ = [
    "DEFAULT_ADAPTER",
    "DEFAULT_HOT_SKUS",
    "DEFAULT_TEST_CUSTOMER",
    "MAX_STOCK_CELLS",
    "MAX_TEST_SKUS",
    "SEED_MAX",
    "SEED_MIN",
    "Catalog",
    "Probes",
    "SkuFile",
    "Target",
    "channel_locations",
    "looks_secret",
    "resolve_adapter_options",
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


DEFAULT_ADAPTER: Final = "collectors.adapter:ReferenceOmsAdapter"
"""The adapter of the embedded reference OMS (``collectors/adapter.py``)."""

DEFAULT_TEST_CUSTOMER: Final = "peakops-synthetic"
"""The customer every synthetic order is placed for, unless the plan names another."""

MAX_TEST_SKUS: Final = 100_000
"""Test SKUs at most: the same range as the seeded catalog (per-SKU state in the load
generator and the drift checker)."""

_ADAPTER_SPEC = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*"
)
_ADAPTER_RULE = "expected 'package.module:ClassName', e.g. acme_adapter:AcmeOmsAdapter"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CUSTOMER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}")
_CUSTOMER_RULE = "use letters, digits and '.', '_', '@', ':', '+', '-' (at most 128)"
_SECRET_WORDS = re.compile(
    r"token|passw|^pass$|pwd|secret|key|auth|credential|bearer|cookie|signature|private|session"
)
_MASKED = "***"
_SECRET_HINT = (
    "looks like a secret: never write it in the plan (it would be copied into run.json); "
    "write {env: NAME} and set the environment variable NAME where peakops runs"
)
_JSON_SCALARS = (str, int, float, bool, type(None))


def looks_secret(key: object) -> bool:
    """Whether an adapter option's name says it holds a secret (token, password, apiKey...)."""
    return isinstance(key, str) and bool(_SECRET_WORDS.search(key.lower()))


class SkuFile(PlanModel):
    """``target.skus: {file: skus.txt}``: test SKUs in a text file, relative to the plan
    file, one per line (``#`` starts a comment)."""

    file: str = Field(min_length=1)


def _sku_file(value: Mapping[Any, Any]) -> SkuFile:
    """``{file: PATH}`` as a ``SkuFile`` (problems reported at their keys)."""
    problems: list[tuple[Loc, str, object]] = [
        ((str(key),), "unknown field (allowed here: file)", key) for key in value if key != "file"
    ]
    path = value.get("file")
    if "file" not in value:
        problems.append(((), "expected a list of SKUs or {file: skus.txt}", show(value)))
    elif not isinstance(path, str) or not path.strip():
        problems.append((("file",), f"expected a path (text), got {show(path)}", path))
    if problems:
        raise_issues("Target", problems)
    return SkuFile(file=str(path))


def _is_env_ref(value: object) -> bool:
    return isinstance(value, Mapping) and list(value) == ["env"]


def _option_problems(value: object, loc: Loc, secret: bool) -> list[tuple[Loc, str, object]]:
    """What is wrong with one adapter option value (``secret``: the key holding it, or the
    list's, looks secret; in a mapping each key speaks for itself). Values are JSON-like;
    ``{env: NAME}`` reads an environment variable."""
    if _is_env_ref(value):
        assert isinstance(value, Mapping)
        name = value["env"]
        if isinstance(name, str) and _ENV_NAME.fullmatch(name):
            return []
        message = "expected an environment variable name (letters, digits, '_'), got " + show(name)
        return [((*loc, "env"), message, name)]
    if isinstance(value, Mapping):
        problems: list[tuple[Loc, str, object]] = []
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(((*loc, str(key)), f"keys must be text, got {show(key)}", key))
                continue
            problems += _option_problems(item, (*loc, key), looks_secret(key))
        return problems
    if isinstance(value, list | tuple):
        return [
            p for i, item in enumerate(value) for p in _option_problems(item, (*loc, i), secret)
        ]
    if isinstance(value, str) and secret:
        return [(loc, _SECRET_HINT, _MASKED)]  # the value itself is never shown
    if not isinstance(value, _JSON_SCALARS):
        message = f"expected text, a number, true/false, a list or a mapping, got {show(value)}"
        return [(loc, message, show(value))]
    return []


def resolve_adapter_options(options: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """``target.adapterOptions`` with every ``{env: NAME}`` replaced by ``env[NAME]``.

    Raises ``UsageError`` naming the option and the variable when one is not set.
    """

    def resolve(value: Any, loc: Loc) -> Any:
        if _is_env_ref(value):
            name = value["env"]
            if name not in env:
                where = format_path(("target", "adapterOptions", *loc))
                raise UsageError(f"{where}: environment variable {name} is not set")
            return env[name]
        if isinstance(value, Mapping):
            return {key: resolve(item, (*loc, key)) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [resolve(item, (*loc, i)) for i, item in enumerate(value)]
        return value

    return {key: resolve(value, (key,)) for key, value in options.items()}


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
    adapter: str = DEFAULT_ADAPTER
    """The adapter class, ``package.module:ClassName`` (docs/adapters.md); checked for
    import and signatures where the plan is loaded (``collectors.adapters``)."""
    adapter_options: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of the adapter's constructor; ``{env: NAME}`` values are read
    from the environment when the adapter is built (``resolve_adapter_options``)."""
    skus: tuple[str, ...] | SkuFile | None = None
    """``kind: url`` only: the test SKUs, most popular first, or a file of them; None
    asks the OMS (``adapter.list_skus()``). Embedded targets sell the seeded catalog."""
    # A billion units is beyond any run; the cap exists to bound what a run may order
    # from a real OMS, so its absence (None) means no cap.
    max_units: int | None = Field(default=None, ge=1, le=1_000_000_000)
    """Units the whole run may order at most; then orders stop and browsing goes on."""
    test_customer: str = DEFAULT_TEST_CUSTOMER
    """The customer synthetic orders are placed for (the adapter maps it into the OMS)."""
    cleanup: bool | None = None
    """Cancel the run's confirmed orders at its end; None: yes for ``kind: url``."""

    @property
    def cleanup_enabled(self) -> bool:
        """Whether the rehearsal cancels what it ordered (default: url targets only)."""
        return self.cleanup if self.cleanup is not None else self.kind == "url"

    @field_validator("adapter")
    @classmethod
    def _check_adapter(cls, value: str) -> str:
        return check_name(value, what="adapter", pattern=_ADAPTER_SPEC, rule=_ADAPTER_RULE)

    @field_validator("test_customer")
    @classmethod
    def _check_customer(cls, value: str) -> str:
        return check_name(value, what="test customer", pattern=_CUSTOMER, rule=_CUSTOMER_RULE)

    @field_validator("adapter_options")
    @classmethod
    def _check_adapter_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        problems = [
            p
            for key, item in value.items()
            for p in _option_problems(item, (key,), looks_secret(key))
        ]
        if problems:
            raise_issues("Target", problems)
        return value

    @field_validator("skus", mode="before")
    @classmethod
    def _check_skus(cls, value: object) -> object:
        if value is None or isinstance(value, SkuFile):
            return value
        if isinstance(value, Mapping):
            return _sku_file(value)
        if not isinstance(value, list | tuple):
            raise ValueError(f"expected a list of SKUs or {{file: skus.txt}}, got {show(value)}")
        if not value:
            raise ValueError("must not be empty (leave target.skus out to ask the OMS)")
        problems: list[tuple[Loc, str, object]] = []
        skus: list[str] = []
        first: dict[str, int] = {}
        for index, sku in enumerate(value):
            if isinstance(sku, int) and not isinstance(sku, bool):
                sku = str(sku)  # numeric SKUs (EANs) read as numbers from YAML
            if not isinstance(sku, str) or not sku.strip():
                problems.append(((index,), f"expected a SKU (text), got {show(sku)}", sku))
            elif sku in first:
                problems.append(((index,), f"duplicate SKU (first at [{first[sku]}])", sku))
            else:
                first[sku] = index
                skus.append(sku)
        if len(value) > MAX_TEST_SKUS:
            problems.append(((), f"expected at most {MAX_TEST_SKUS} SKUs, got {len(value)}", None))
        if problems:
            raise_issues("Target", problems)
        return tuple(skus)

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
        if self.kind == "embedded" and self.skus is not None:
            message = "only allowed with kind: url (embedded sells its seeded target.catalog)"
            raise_issues("Target", [(("skus",), message, show(self.skus))])
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
