"""The ``monitoring:`` section of a plan: Prometheus and Alertmanager beside a rehearsal.

By default a rehearsal starts its own Prometheus and Alertmanager on 127.0.0.1 when the
binaries are installed (``rehearsal.monitoring``, docs/alerts.md). ``prometheusUrl``
points at an existing Prometheus instead (peakops then starts none and only records its
alerts); ``enabled: false`` turns both off. Its host is allowlisted like a target's
(``target.allowHosts``, and the operator's key for anything but loopback).
``pageWebhook`` also sends the rehearsal's page alerts to a webhook on loopback (the
rollback receiver, ``peakops rollback serve``), authenticated by a secret the rehearsal
reads from an environment variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, Self

from pydantic import field_validator, model_validator

from slo.conventions import ALERT_WINDOWS
from slo.fields import PlanModel
from slo.hosts import is_loopback, mask_url, normalise_url, url_host
from slo.issues import raise_issues

__all__ = [
    "DEFAULT_SECRET_ENV",
    "REHEARSAL_ALERT_WINDOWS",
    "Monitoring",
    "PageWebhook",
    "with_rehearsal_windows",
]

DEFAULT_SECRET_ENV: Final = "PEAKOPS_WEBHOOK_SECRET"
"""The variable ``peakops rollback serve`` reads its secret from by default."""
_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

REHEARSAL_ALERT_WINDOWS: Final = "rehearsal"
"""The window set of a rehearsal's Prometheus when the plan names none: the others are
sized for days and never fire in a run of minutes."""


class PageWebhook(PlanModel):
    """Where the rehearsal's Alertmanager also sends page alerts, e.g. ``peakops rollback
    serve``: ``url`` on loopback (the receiver listens on loopback only), and the name of
    the environment variable holding its shared secret (never the secret itself: a plan
    is a file anyone may read)."""

    url: str
    credentials_env: str = DEFAULT_SECRET_ENV

    @field_validator("url")
    @classmethod
    def _loopback_url(cls, value: str) -> str:
        try:
            url = normalise_url(value)
            host = url_host(url)
        except ValueError as err:  # never the raw value: it may carry a password
            raise_issues("PageWebhook", [((), str(err), mask_url(value))])
        if not is_loopback(host):
            message = (
                f"host {host!r} is not loopback: the rollback receiver (peakops rollback "
                "serve) listens on 127.0.0.1 only"
            )
            raise_issues("PageWebhook", [((), message, url)])
        return url

    @field_validator("credentials_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.fullmatch(value):
            message = (
                "not an environment variable name (letters, digits and _): name the "
                "variable that holds the secret, never the secret"
            )
            raise_issues("PageWebhook", [((), message, "***")])  # it may be the secret
        return value


class Monitoring(PlanModel):
    """Prometheus in the loop: on (own or existing server) or off, its alert windows, and
    where its pages also go."""

    enabled: bool = True
    prometheus_url: str | None = None
    """An existing Prometheus (``http(s)://host:port``): peakops records its alerts
    during the run and starts no Prometheus or Alertmanager of its own."""
    page_webhook: PageWebhook | None = None
    """Also send the rehearsal's page alerts to this webhook (``peakops rollback
    serve``), with a bearer token read from ``credentialsEnv`` at run time."""
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
        if self.page_webhook is not None and (not self.enabled or self.prometheus_url):
            why = (
                "monitoring is disabled (enabled: false)"
                if not self.enabled
                else "prometheusUrl names an existing Prometheus, whose Alertmanager is not "
                "the rehearsal's: configure the receiver there"
            )
            message = f"pageWebhook needs the rehearsal's own Alertmanager, but {why}"
            raise_issues("Monitoring", [(("pageWebhook",), message, self.page_webhook.url)])
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
