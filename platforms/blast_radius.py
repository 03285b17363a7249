"""Blast-radius guards: the checks every fault passes before it touches a target.

Pure functions, no I/O. A fault runs only in an allowlisted namespace, only with a
non-empty equality label selector, and only on at least one and at most
``max_targets`` (and at most ``max_percent`` of the candidates) targets. Every refusal
is a :class:`slo.errors.UsageError` (exit 2) that names the bad value and the limit.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from slo.errors import UsageError

__all__ = [
    "BlastRadius",
    "check_namespace",
    "check_selector",
    "check_target_count",
    "choose_targets",
    "format_selector",
    "matches_selector",
]

# Kubernetes label syntax: an optional DNS-subdomain prefix and a name of at most 63
# characters; values are empty or follow the name rule. Anything else (set-based
# operators, spaces, quotes) is refused rather than passed to the API server.
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?"
_KEY_RE = re.compile(rf"^({_PREFIX}/)?{_NAME}$")
_VALUE_RE = re.compile(rf"^({_NAME})?$")

_EMPTY_SELECTOR = "an empty selector would target every pod in the namespace"


@dataclass(frozen=True)
class BlastRadius:
    """How far a fault may reach.

    ``allowed_namespaces``: the only namespaces a fault may touch. ``max_targets``:
    the most targets one fault may hit. ``max_percent``: the most targets one fault may
    hit, as a percentage of the candidates its selector matched (0 < p <= 100).
    """

    allowed_namespaces: tuple[str, ...]
    max_targets: int
    max_percent: float

    def __post_init__(self) -> None:
        if isinstance(self.allowed_namespaces, str):
            raise UsageError(
                f"allowed_namespaces must be a tuple of names, not the string "
                f"{self.allowed_namespaces!r}"
            )
        if self.max_targets < 1:
            raise UsageError(f"max_targets must be at least 1, got {self.max_targets}")
        if not 0 < self.max_percent <= 100:
            raise UsageError(f"max_percent must be in (0, 100], got {self.max_percent}")


def check_namespace(namespace: str, radius: BlastRadius) -> None:
    """Refuse a namespace that is not in the allowlist."""
    if namespace not in radius.allowed_namespaces:
        allowed = ", ".join(radius.allowed_namespaces) or "(none)"
        raise UsageError(
            f"namespace {namespace!r} is not allowlisted for chaos (allowed: {allowed})"
        )


def check_selector(selector: str | Mapping[str, str] | None) -> dict[str, str]:
    """Parse and check a label selector; return its labels (``matchLabels``).

    Accepts ``"app=orders,tier=web"`` (``==`` also works) or a mapping. Refuses an
    empty or missing selector, set-based or negated terms, and malformed keys/values.
    """
    if selector is None:
        raise UsageError(f"no selector given: {_EMPTY_SELECTOR}")
    labels = _parse_selector(selector) if isinstance(selector, str) else dict(selector)
    if not labels:
        raise UsageError(f"empty selector {_render(selector)}: {_EMPTY_SELECTOR}")
    for key, value in labels.items():
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise UsageError(f"selector {_render(selector)}: bad label key {key!r}")
        if not isinstance(value, str) or not _VALUE_RE.match(value):
            raise UsageError(f"selector {_render(selector)}: bad label value {value!r}")
    return labels


def format_selector(labels: Mapping[str, str]) -> str:
    """The canonical ``labelSelector`` string for equality labels, sorted by key."""
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


def matches_selector(labels: Mapping[str, str] | None, selector: Mapping[str, str]) -> bool:
    """True when every selector label is present with the same value."""
    have = labels or {}
    return all(key in have and have[key] == value for key, value in selector.items())


def check_target_count(targets: int, radius: BlastRadius, *, candidates: int | None = None) -> None:
    """Refuse 0 targets, more than ``max_targets``, or more than ``max_percent``.

    The percentage is of ``candidates`` (what the selector matched); without them only
    the absolute limit applies.
    """
    if targets < 1 or (candidates is not None and candidates < 1):
        raise UsageError("the selector matches no targets: refusing a fault with 0 targets")
    if targets > radius.max_targets:
        raise UsageError(
            f"would hit {targets} targets, more than the limit of {radius.max_targets}"
        )
    if candidates is None:
        return
    percent = 100.0 * targets / candidates
    if percent > radius.max_percent:
        raise UsageError(
            f"would hit {targets} of {candidates} targets ({percent:.1f} %), "
            f"more than the limit of {radius.max_percent:g} %"
        )


def choose_targets(
    candidates: Sequence[str],
    *,
    count: int | None,
    percent: float | None,
    radius: BlastRadius,
    rng: random.Random,
) -> list[str]:
    """Pick ``count`` targets, or ``percent`` of the candidates rounded up, at random.

    Exactly one of ``count`` and ``percent`` is given. The choice comes from ``rng``
    (seed it to make a rehearsal repeatable) and is returned sorted.
    """
    pool = sorted(set(candidates))
    if not pool:
        raise UsageError("the selector matches no targets: refusing a fault with 0 targets")
    wanted = _wanted(len(pool), count=count, percent=percent)
    check_target_count(wanted, radius, candidates=len(pool))
    return sorted(rng.sample(pool, wanted))


def _wanted(available: int, *, count: int | None, percent: float | None) -> int:
    if (count is None) == (percent is None):
        raise UsageError("say how many targets: give exactly one of count and percent")
    if count is not None:
        if isinstance(count, bool) or count < 1:
            raise UsageError(f"count must be at least 1, got {count}")
        if count > available:
            raise UsageError(f"count {count} is more than the {available} targets matched")
        return count
    assert percent is not None
    if not 0 < percent <= 100:
        raise UsageError(f"percent must be in (0, 100], got {percent}")
    return math.ceil(available * percent / 100 - 1e-9)


def _parse_selector(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for raw in text.split(","):
        term = raw.strip()
        if not term:
            continue
        if "!=" in term or "=" not in term:
            raise UsageError(
                f"selector {text!r}: term {term!r} is not key=value "
                "(only equality selectors are supported)"
            )
        key, _, value = term.replace("==", "=", 1).partition("=")
        key, value = key.strip(), value.strip()
        if key in labels and labels[key] != value:
            raise UsageError(f"selector {text!r}: label {key!r} given twice")
        labels[key] = value
    return labels


def _render(selector: str | Mapping[str, str]) -> str:
    return repr(selector) if isinstance(selector, str) else repr(dict(selector))
