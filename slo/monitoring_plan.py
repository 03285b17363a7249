"""The ``monitoring:`` section of a plan: Prometheus and Alertmanager beside a rehearsal.

By default a rehearsal starts its own Prometheus and Alertmanager on 127.0.0.1 when the
binaries are installed (``rehearsal.monitoring``, docs/alerts.md). ``prometheusUrl``
points at an existing Prometheus instead (peakops then starts none and only records its
alerts); ``enabled: false`` turns both off. Its host is allowlisted like a target's
(``target.allowHosts``, and the operator's key for anything but loopback).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Self

from pydantic import field_validator, model_validator

from slo.conventions import ALERT_WINDOWS
from slo.fields import PlanModel
from slo.hosts import mask_url, normalise_url
from slo.issues import raise_issues

__all__ = ["REHEARSAL_ALERT_WINDOWS", "Monitoring", "with_rehearsal_windows"]

REHEARSAL_ALERT_WINDOWS: Final = "rehearsal"
"""The window set of a rehearsal's Prometheus when the plan names none: the others are
sized for days and never fire in a run of minutes."""


class Monitoring(PlanModel):
    """Prometheus in the loop: on (own or existing server) or off, and its alert windows."""

    enabled: bool = True
    prometheus_url: str | None = None
    """An existing Prometheus (``http(s)://host:port``): peakops records its alerts
    during the run and starts no Prometheus or Alertmanager of its own."""
    alert_windows: str = REHEARSAL_ALERT_WINDOWS
    """Burn-rate windows of the rules loaded into the rehearsal's own Prometheus. When
    the plan file does not say, ``slos.alertWindows`` if the plan names one, else
    ``rehearsal`` (resolved once at loading, see ``with_rehearsal_windows``)."""

    @field_validator("prometheus_url")
    @classmethod
    def _normalise_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalise_url(value)
        except ValueError as err:  # never the raw value: it may carry a password
            raise_issues("Monitoring", [((), str(err), mask_url(value))])

    @field_validator("alert_windows")
    @classmethod
    def _check_alert_windows(cls, value: str) -> str:
        if value not in ALERT_WINDOWS:
            raise ValueError(
                f"unknown alert window set {value!r}: use one of {', '.join(ALERT_WINDOWS)}"
            )
        return value

    @model_validator(mode="after")
    def _check_enabled(self) -> Self:
        if not self.enabled and self.prometheus_url is not None:
            message = "monitoring is disabled (enabled: false): remove prometheusUrl or enable it"
            raise_issues("Monitoring", [(("prometheusUrl",), message, self.prometheus_url)])
        return self


def _get(data: Mapping[Any, Any], camel: str, snake: str) -> Any:
    return data.get(camel, data.get(snake))


def with_rehearsal_windows(data: object) -> object:
    """Plan data with ``monitoring.alertWindows`` resolved when the file gives none.

    ``slos.alertWindows`` when the plan names a known set, else ``rehearsal``. Resolved
    on the raw data, before defaults are filled in, so that a plan snapshot (which
    carries every default) reads back the same set. Anything malformed is left for the
    models to report.
    """
    if not isinstance(data, Mapping):
        return data
    monitoring = _get(data, "monitoring", "monitoring")
    if monitoring is None:
        monitoring = {}
    if not isinstance(monitoring, Mapping) or {"alertWindows", "alert_windows"} & set(monitoring):
        return data
    slos = data.get("slos")
    named = _get(slos, "alertWindows", "alert_windows") if isinstance(slos, Mapping) else None
    windows = named if isinstance(named, str) and named in ALERT_WINDOWS else None
    return {
        **data,
        "monitoring": {**monitoring, "alertWindows": windows or REHEARSAL_ALERT_WINDOWS},
    }
