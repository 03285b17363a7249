"""Fault leases on Kubernetes objects: names, labels, the expiry annotation, manifests.

Pure helpers, no I/O. Every object peakops creates on a cluster is named
``peakops-<name>``, labelled ``app.kubernetes.io/managed-by: peakops`` and annotated
``peakops.io/expires-at: <ISO-8601 UTC>``; the reaper deletes it once that time has
passed, or at once when the annotation is missing or unreadable (fail safe).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from slo.errors import UsageError

__all__ = [
    "EXPIRES_AT",
    "MANAGED_BY",
    "MANAGED_LABELS",
    "MAX_LEASE_S",
    "NAME_PREFIX",
    "check_lease",
    "deny_all_policy",
    "format_expiry",
    "is_expired",
    "is_managed",
    "parse_expiry",
    "policy_name",
]

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_LABELS: Mapping[str, str] = {MANAGED_BY: "peakops"}
EXPIRES_AT = "peakops.io/expires-at"
NAME_PREFIX = "peakops-"
# A fault is renewed while it is wanted; one lease never keeps it for more than this.
MAX_LEASE_S = 3600.0
_SKEW_S = 60.0

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def policy_name(name: str) -> str:
    """``peakops-<name>``; ``name`` must keep the result a DNS label (<= 63 chars)."""
    full = NAME_PREFIX + name
    if not name or len(full) > 63 or not _DNS_LABEL.match(full):
        raise UsageError(
            f"fault name {name!r} is not usable: {full!r} must be a lowercase DNS label "
            "(a-z, 0-9, '-', at most 63 characters)"
        )
    return full


def check_lease(lease_s: float) -> None:
    """Refuse a lease that is not positive or longer than :data:`MAX_LEASE_S`."""
    if not 0 < lease_s <= MAX_LEASE_S:
        raise UsageError(f"lease must be in (0, {MAX_LEASE_S:g}] seconds, got {lease_s}")


def format_expiry(timestamp: float) -> str:
    """``2026-11-22T01:02:04Z``: UTC, rounded up to the whole second."""
    moment = datetime.fromtimestamp(math.ceil(timestamp), tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_expiry(value: object) -> float | None:
    """The POSIX time of an expiry annotation, or None if missing or unreadable.

    A timestamp without a UTC offset is ambiguous and counts as unreadable.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None
    return moment.timestamp()


def is_expired(annotations: Mapping[str, str] | None, now: float) -> bool:
    """True once the lease has run out, or when it cannot be trusted (fail safe).

    Untrusted: missing, unreadable, or further ahead than any lease peakops grants
    (:data:`MAX_LEASE_S`, plus a minute of clock skew between machines).
    """
    expires = parse_expiry((annotations or {}).get(EXPIRES_AT))
    return expires is None or expires <= now or expires > now + MAX_LEASE_S + _SKEW_S


def is_managed(name: str | None, labels: Mapping[str, str] | None) -> bool:
    """True for an object peakops made: its name prefix and its managed-by label."""
    return (
        bool(name and name.startswith(NAME_PREFIX))
        and (labels or {}).get(MANAGED_BY) == MANAGED_LABELS[MANAGED_BY]
    )


def deny_all_policy(name: str, match_labels: Mapping[str, str], expires_at: str) -> dict[str, Any]:
    """A NetworkPolicy that cuts all ingress and egress of the selected pods.

    Both policy types and no rules: nothing is allowed in or out. ``name`` is the full
    policy name (see :func:`policy_name`).
    """
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "labels": dict(MANAGED_LABELS),
            "annotations": {EXPIRES_AT: expires_at},
        },
        "spec": {
            "podSelector": {"matchLabels": dict(match_labels)},
            "policyTypes": ["Ingress", "Egress"],
        },
    }
