"""The fault proxy's toxics: their validated spec and the leased set of active ones.

Pure data and bookkeeping, no sockets and no asyncio: :func:`parse_spec` turns a control
API body into a :class:`ToxicSpec` (or a :class:`ToxicError` with the HTTP status to
answer), and :class:`ToxicSet` keeps the active toxics, each with a lease that
:meth:`ToxicSet.expire` enforces against an injected clock.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "DEFAULT_LEASE_S",
    "MAX_LEASE_S",
    "STREAMS",
    "TOXIC_TYPES",
    "Toxic",
    "ToxicError",
    "ToxicSet",
    "ToxicSpec",
    "parse_lease",
    "parse_spec",
]

DEFAULT_LEASE_S = 5.0
"""Seconds a toxic lives without renewal when the request names no ``lease_s``."""

MAX_LEASE_S = 60.0
"""The longest lease accepted: a forgotten fault is gone within a minute at worst."""

STREAMS = ("upstream", "downstream", "both")
"""``upstream``: client to server bytes; ``downstream``: server to client (the default)."""

# Each type's attributes and their defaults; None marks a required attribute.
_ATTRIBUTES: Mapping[str, Mapping[str, float | None]] = {
    "latency": {"latency_ms": 0.0, "jitter_ms": 0.0},
    "bandwidth": {"rate_kbps": None},
    "timeout": {"timeout_ms": 0.0},
    "reset_peer": {"timeout_ms": 0.0},
    "down": {},
}

TOXIC_TYPES = tuple(_ATTRIBUTES)
"""Every toxic type the proxy knows."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_FIELDS = {"name", "type", "attributes", "stream", "toxicity", "lease_s"}


class ToxicError(Exception):
    """A control request that cannot be honoured; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ToxicSpec:
    """What a client asked for: a named toxic of one type, on a stream, with a lease.

    ``toxicity`` is the probability that a given connection is affected (drawn once
    per connection and toxic).
    """

    name: str
    type: str
    attributes: Mapping[str, float]
    stream: str = "downstream"
    toxicity: float = 1.0
    lease_s: float = DEFAULT_LEASE_S

    def applies_to(self, direction: str) -> bool:
        """Whether bytes flowing in ``direction`` (upstream/downstream) meet this toxic."""
        return self.stream in ("both", direction)


@dataclass
class Toxic:
    """An active toxic: its spec, a unique id, when it was added and when its lease ends.

    Times are on the :class:`ToxicSet`'s clock (monotonic seconds).
    """

    spec: ToxicSpec
    id: int
    added_at: float
    expires_at: float
    renewals: int = 0

    @property
    def name(self) -> str:
        """The toxic's name."""
        return self.spec.name

    def attr(self, key: str) -> float:
        """One attribute's value (every attribute has a value after parsing)."""
        return self.spec.attributes[key]

    def describe(self, now: float) -> dict[str, object]:
        """The JSON the control API shows for this toxic."""
        return {
            "name": self.spec.name,
            "type": self.spec.type,
            "attributes": dict(self.spec.attributes),
            "stream": self.spec.stream,
            "toxicity": self.spec.toxicity,
            "lease_s": self.spec.lease_s,
            "expires_in_s": round(max(0.0, self.expires_at - now), 3),
            "age_s": round(now - self.added_at, 3),
            "renewals": self.renewals,
        }


def _number(value: object, what: str, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToxicError(400, f"{what} must be a number, got {value!r}")
    number = float(value)
    if number < low or (high is not None and number > high) or number != number:
        bounds = f">= {low:g}" if high is None else f"between {low:g} and {high:g}"
        raise ToxicError(400, f"{what} must be {bounds}, got {value!r}")
    return number


def parse_lease(value: object) -> float:
    """Validate a ``lease_s`` (None: the default): more than 0, at most MAX_LEASE_S."""
    if value is None:
        return DEFAULT_LEASE_S
    lease = _number(value, "lease_s", 0.0, MAX_LEASE_S)
    if lease <= 0:
        raise ToxicError(400, f"lease_s must be more than 0, got {value!r}")
    return lease


def _attributes(kind: str, given: object) -> Mapping[str, float]:
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise ToxicError(400, f"attributes must be an object, got {given!r}")
    known = _ATTRIBUTES[kind]
    unknown = sorted(set(given) - set(known))
    if unknown:
        allowed = ", ".join(known) or "none"
        raise ToxicError(400, f"unknown attribute {unknown[0]!r} for {kind} (allowed: {allowed})")
    values: dict[str, float] = {}
    for key, default in known.items():
        if key not in given and default is None:
            raise ToxicError(400, f"{kind} needs attribute {key!r}")
        values[key] = _number(given.get(key, default), f"{kind} attribute {key}", 0.0)
    if kind == "bandwidth" and values["rate_kbps"] <= 0:
        raise ToxicError(400, f"bandwidth attribute rate_kbps must be more than 0, got {given}")
    return MappingProxyType(values)


def parse_spec(body: object) -> ToxicSpec:
    """Validate a ``POST /toxics`` body; raise ToxicError(400) saying what is wrong."""
    if not isinstance(body, dict):
        raise ToxicError(400, f"a toxic must be a json object, got {body!r}")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        allowed = ", ".join(sorted(_FIELDS))
        raise ToxicError(400, f"unknown field {unknown[0]!r} (allowed: {allowed})")
    kind = body.get("type")
    if kind not in _ATTRIBUTES:
        raise ToxicError(400, f"type must be one of {', '.join(TOXIC_TYPES)}, got {kind!r}")
    kind = str(kind)
    stream = body.get("stream", "downstream")
    if stream not in STREAMS:
        raise ToxicError(400, f"stream must be one of {', '.join(STREAMS)}, got {stream!r}")
    name = body.get("name", f"{kind}_{stream}")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ToxicError(
            400, f"name must be 1-100 characters of letters, digits, '_.-', got {name!r}"
        )
    toxicity = _number(body.get("toxicity", 1.0), "toxicity", 0.0, 1.0)
    if kind == "down" and toxicity != 1.0:
        raise ToxicError(
            400, "down takes the whole proxy down (toxicity 1); use reset_peer for flaky links"
        )
    return ToxicSpec(
        name=name,
        type=kind,
        attributes=_attributes(kind, body.get("attributes")),
        stream=str(stream),
        toxicity=toxicity,
        lease_s=parse_lease(body.get("lease_s")),
    )


@dataclass
class ToxicSet:
    """The active toxics by name, each expiring when its lease lapses unrenewed.

    Not thread-safe: the proxy uses it from its event loop only. ``version`` grows on
    every change, so a caller can tell that the set changed.
    """

    clock: Callable[[], float] = time.monotonic
    version: int = 0
    _last_id: int = 0
    _toxics: dict[str, Toxic] = field(default_factory=dict)
    _active: tuple[Toxic, ...] = ()

    def active(self) -> tuple[Toxic, ...]:
        """The active toxics, oldest first (a snapshot: cheap, never mutated)."""
        return self._active

    def get(self, name: str) -> Toxic:
        """The toxic called ``name``; ToxicError(404) if there is none."""
        toxic = self._toxics.get(name)
        if toxic is None:
            raise ToxicError(404, f"no toxic named {name!r} (its lease may have lapsed)")
        return toxic

    def add(self, spec: ToxicSpec) -> Toxic:
        """Activate ``spec``; ToxicError(409) if a toxic of that name is active."""
        if spec.name in self._toxics:
            raise ToxicError(409, f"a toxic named {spec.name!r} already exists")
        now = self.clock()
        self._last_id += 1  # ids are never reused: a re-added name is drawn for afresh
        toxic = Toxic(spec=spec, id=self._last_id, added_at=now, expires_at=now + spec.lease_s)
        self._toxics[spec.name] = toxic
        self._changed()
        return toxic

    def remove(self, name: str) -> Toxic:
        """Deactivate the toxic called ``name``; ToxicError(404) if there is none."""
        toxic = self.get(name)
        del self._toxics[name]
        self._changed()
        return toxic

    def renew(self, name: str, lease_s: float) -> Toxic:
        """Push the toxic's expiry to ``lease_s`` from now; ToxicError(404) if it is gone."""
        toxic = self.get(name)
        toxic.expires_at = self.clock() + lease_s
        toxic.renewals += 1
        return toxic

    def clear(self) -> list[Toxic]:
        """Remove every toxic; return what was removed."""
        removed = list(self._toxics.values())
        self._toxics.clear()
        if removed:
            self._changed()
        return removed

    def expire(self) -> list[Toxic]:
        """Remove the toxics whose lease has lapsed; return them."""
        now = self.clock()
        lapsed = [t for t in self._toxics.values() if t.expires_at <= now]
        for toxic in lapsed:
            del self._toxics[toxic.name]
        if lapsed:
            self._changed()
        return lapsed

    def describe(self) -> list[dict[str, Any]]:
        """Every active toxic as the control API shows it."""
        now = self.clock()
        return [toxic.describe(now) for toxic in self._active]

    def _changed(self) -> None:
        self.version += 1
        self._active = tuple(self._toxics.values())
