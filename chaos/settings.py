"""The ``peakops_*`` keys of an experiment's Chaos Toolkit configuration, parsed once.

Chaos Toolkit hands providers a plain ``configuration`` dict whose values may be
strings (from the environment or ``--var``); :func:`parse_settings` turns it into a
frozen :class:`ChaosSettings` and refuses bad values with a UsageError naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from platforms.blast_radius import BlastRadius
from slo.conventions import ENDPOINT_PLACE_ORDER
from slo.errors import UsageError

__all__ = ["MAX_LEASE_S", "PLATFORMS", "ChaosSettings", "parse_settings"]

PLATFORMS = ("local", "kubernetes")
MAX_LEASE_S = 60.0


@dataclass(frozen=True)
class ChaosSettings:
    """Where a fault lands and how far it may reach.

    ``state_file``: the local platform's handle (``chaos.handle``); ``control_urls``:
    fault-proxy control URLs by link, added to (and overriding) the handle's.
    ``error_budget``: the error ratio the SLO allows; ``stop_burn_rate``: the stop
    condition, how many times faster than that budget the flood may fail while a fault
    is active (14.4: a 30-day budget gone in two days). ``latency_threshold_ms``,
    ``latency_percentile``, ``latency_endpoint``: the latency SLO the stop condition
    also watches (``p99 < 250 ms`` of ``POST /orders``), both None when it watches only
    errors. ``events_file``: where the runner records the run's events (set by the
    runner, not by users).
    """

    platform: str = "local"
    state_file: str = ""
    control_urls: Mapping[str, str] | None = None
    namespace: str = ""
    selector: str = ""
    allowed_namespaces: tuple[str, ...] = ()
    max_targets: int = 1
    max_percent: float = 50.0
    lease_s: float = 5.0
    kubeconfig: str = ""
    kube_host: str = ""
    metrics_url: str = ""
    dry_run: bool = False
    error_budget: float = 0.02
    stop_burn_rate: float = 14.4
    latency_threshold_ms: float | None = None
    latency_percentile: float | None = None
    latency_endpoint: str = ENDPOINT_PLACE_ORDER
    events_file: str = ""

    def radius(self) -> BlastRadius:
        return BlastRadius(self.allowed_namespaces, self.max_targets, self.max_percent)

    @property
    def latency_allowance(self) -> float | None:
        """The share of slow requests the latency SLO allows (p99: 0.01); None: unwatched."""
        if self.latency_threshold_ms is None or self.latency_percentile is None:
            return None
        return round((100 - self.latency_percentile) / 100, 12)  # p99.9: 0.001, not 0.00099..


def parse_settings(configuration: Mapping[str, Any] | None) -> ChaosSettings:
    """Read the ``peakops_*`` keys; missing keys keep their defaults."""
    conf = dict(configuration or {})
    platform = _text(conf, "platform", "local")
    if platform not in PLATFORMS:
        raise UsageError(f"peakops_platform: expected local or kubernetes, got {platform!r}")
    lease_s = _number(conf, "lease_s", 5.0)
    if not 0 < lease_s <= MAX_LEASE_S:
        raise UsageError(
            f"peakops_lease_s: expected a lease in (0, {MAX_LEASE_S:g}] seconds, got {lease_s}"
        )
    budget = _number(conf, "error_budget", 0.02)
    if not 0 < budget <= 1:
        raise UsageError(f"peakops_error_budget: expected a ratio in (0, 1], got {budget}")
    burn = _number(conf, "stop_burn_rate", 14.4)
    if burn <= 0:
        raise UsageError(f"peakops_stop_burn_rate: expected a rate > 0, got {burn}")
    threshold_ms, percentile = _latency_slo(conf)
    return ChaosSettings(
        platform=platform,
        state_file=_text(conf, "state_file", ""),
        control_urls=parse_control_urls(_text(conf, "control_urls", "")),
        namespace=_text(conf, "namespace", ""),
        selector=_text(conf, "selector", ""),
        allowed_namespaces=tuple(_csv(_text(conf, "allowed_namespaces", ""))),
        max_targets=int(_number(conf, "max_targets", 1)),
        max_percent=_number(conf, "max_percent", 50.0),
        lease_s=lease_s,
        kubeconfig=_text(conf, "kubeconfig", ""),
        kube_host=_text(conf, "kube_host", ""),
        metrics_url=_text(conf, "metrics_url", ""),
        dry_run=_flag(conf, "dry_run"),
        error_budget=budget,
        stop_burn_rate=burn,
        latency_threshold_ms=threshold_ms,
        latency_percentile=percentile,
        latency_endpoint=_text(conf, "latency_endpoint", "") or ENDPOINT_PLACE_ORDER,
        events_file=_text(conf, "events_file", ""),
    )


def _latency_slo(conf: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """``peakops_latency_threshold_ms`` and ``peakops_latency_percentile``: both or none."""
    threshold_ms = _optional_number(conf, "latency_threshold_ms")
    percentile = _optional_number(conf, "latency_percentile")
    if threshold_ms is not None and not threshold_ms > 0:
        raise UsageError(
            f"peakops_latency_threshold_ms: expected a threshold > 0 ms, got {threshold_ms}"
        )
    if percentile is not None and not 0 < percentile < 100:
        raise UsageError(
            f"peakops_latency_percentile: expected a percentile in (0, 100), got {percentile}"
        )
    if (threshold_ms is None) != (percentile is None):
        missing, given = (
            ("latency_percentile", "latency_threshold_ms")
            if percentile is None
            else ("latency_threshold_ms", "latency_percentile")
        )
        raise UsageError(f"peakops_{missing}: needed with peakops_{given}, got none")
    return threshold_ms, percentile


def parse_control_urls(text: str) -> dict[str, str]:
    """``orders-inventory=http://127.0.0.1:8474,...``; a bare URL is the orders link."""
    urls: dict[str, str] = {}
    for term in _csv(text):
        link, sep, url = term.partition("=")
        if not sep:
            link, url = "orders-inventory", term
        urls[link.strip()] = url.strip()
    return urls


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _text(conf: Mapping[str, Any], key: str, default: str) -> str:
    value = conf.get(f"peakops_{key}", default)
    return default if value is None else str(value).strip()


def _number(conf: Mapping[str, Any], key: str, default: float) -> float:
    value = conf.get(f"peakops_{key}", default)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise UsageError(f"peakops_{key}: expected a number, got {value!r}") from err


def _optional_number(conf: Mapping[str, Any], key: str) -> float | None:
    value = conf.get(f"peakops_{key}")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _number(conf, key, 0.0)


def _flag(conf: Mapping[str, Any], key: str) -> bool:
    value = conf.get(f"peakops_{key}", False)
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")
