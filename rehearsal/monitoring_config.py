"""What a rehearsal's Prometheus and Alertmanager are given: files, flags and rules.

Pure but for ``find_binaries`` (a PATH lookup) and ``write_page_secret``: the plan and
a few addresses in, configuration data and command lines out. ``rehearsal.monitoring``
writes and runs them.

Everything lives in ``<run>/monitoring/`` (``MonitoringLayout``): the configurations,
the run's rules, the OMS targets (file_sd), both data directories and both logs, and
the secret of the page webhook (``write_page_secret``, which writes it).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from alerts.alert_rules import no_data_alerts
from alerts.alertmanager import BearerWebhook, build_alertmanager
from alerts.durations import format_window
from alerts.model import AlertSlo, AlertSpec, Rule
from alerts.render import render_yaml
from alerts.rules import GENERATORS, build_rules
from alerts.spec import LOAD_PROCESS, alert_spec
from slo.errors import UsageError
from slo.plan import Plan

__all__ = [
    "ALERTMANAGER_BINARIES",
    "INSTALL_HINT",
    "JOB_LOAD",
    "JOB_OMS",
    "LOAD_METRICS_PATH",
    "PAGE_SECRET_FILE",
    "PROMETHEUS_BINARY",
    "RESEND_DELAY",
    "RUN_GENERATORS",
    "WEBHOOK_PATH",
    "Binaries",
    "MonitoringLayout",
    "RunRules",
    "alertmanager_argv",
    "find_binaries",
    "prometheus_argv",
    "prometheus_config",
    "run_no_data_alerts",
    "run_rules",
    "targets_document",
    "write_page_secret",
]

PROMETHEUS_BINARY: Final = "prometheus"
ALERTMANAGER_BINARIES: Final = ("prometheus-alertmanager", "alertmanager")
"""Debian names it ``prometheus-alertmanager``; upstream tarballs ``alertmanager``."""
INSTALL_HINT: Final = "apt-get install prometheus prometheus-alertmanager"

SCRAPE_INTERVAL: Final = "1s"
"""Scrape and rule evaluation: the ``rehearsal`` window set's short page window (10 s)
holds ten scrapes."""
RESEND_DELAY: Final = "2s"
"""``--rules.alert.resend-delay``: the default (1 m) loses the first alert sent before
Alertmanager was discovered for a minute, most of a rehearsal (FIELD-NOTES)."""

JOB_OMS: Final = "peakops-oms"
JOB_LOAD: Final = "peakops-load"
LOAD_METRICS_PATH: Final = "/load/metrics"
"""Where the relay serves the load process's metrics (``rehearsal.monitoring_relay``)."""
WEBHOOK_PATH: Final = "/alertmanager"
"""Where the relay takes Alertmanager's notifications."""
PAGE_SECRET_FILE: Final = "page-webhook-secret"
"""The bearer token of ``monitoring.pageWebhook`` (mode 0600, beside alertmanager.yml,
which names it relative: Alertmanager resolves it against its config file's folder)."""


@dataclass(frozen=True)
class Binaries:
    """The programs found on PATH (None: missing)."""

    prometheus: str | None
    alertmanager: str | None

    def missing(self) -> tuple[str, ...]:
        """The names of what is missing, for a message."""
        found = {PROMETHEUS_BINARY: self.prometheus, ALERTMANAGER_BINARIES[0]: self.alertmanager}
        return tuple(name for name, path in found.items() if path is None)


def find_binaries(which: Callable[[str], str | None] = shutil.which) -> Binaries:
    """Prometheus and Alertmanager as installed (Debian or upstream names)."""
    alertmanager = next(filter(None, map(which, ALERTMANAGER_BINARIES)), None)
    return Binaries(which(PROMETHEUS_BINARY), alertmanager)


@dataclass(frozen=True)
class MonitoringLayout:
    """The files of ``<run>/monitoring/``."""

    root: Path

    @property
    def prometheus_config(self) -> Path:
        return self.root / "prometheus.yml"

    @property
    def alertmanager_config(self) -> Path:
        return self.root / "alertmanager.yml"

    @property
    def rules(self) -> Path:
        return self.root / "rules.yaml"

    @property
    def oms_targets(self) -> Path:
        """file_sd of the OMS processes, written once the target is up."""
        return self.root / "targets-oms.json"

    @property
    def page_secret(self) -> Path:
        """The secret of ``monitoring.pageWebhook`` (``write_page_secret``)."""
        return self.root / PAGE_SECRET_FILE

    @property
    def prometheus_data(self) -> Path:
        return self.root / "prometheus-data"

    @property
    def alertmanager_data(self) -> Path:
        return self.root / "alertmanager-data"

    @property
    def prometheus_log(self) -> Path:
        return self.root / "prometheus.log"

    @property
    def alertmanager_log(self) -> Path:
        return self.root / "alertmanager.log"


@dataclass(frozen=True)
class RunRules:
    """The run's rules and Alertmanager configuration, rendered.

    ``watched``: SLO ids with rules. ``not_watched``: SLO id -> why none (no live SLI,
    or served by a process a rehearsal does not run).
    """

    windows: str
    rules: str | None
    alertmanager: str
    watched: tuple[str, ...]
    not_watched: dict[str, str]


def run_no_data_alerts(slo: AlertSlo, spec: AlertSpec) -> tuple[Rule, ...]:
    """The no-data alert of a rehearsal: the metric ``absent`` for the set's ``noData``.

    The generated one (``absent_over_time(metric[noData])``, ``for: 0s``) fires on the
    first evaluation of a fresh Prometheus, before the load process has served
    anything; here the absence must last ``noData`` from the first evaluation on. A load
    process that dies is still caught after ``noData`` (its series go stale at once).
    """
    return tuple(
        dataclasses.replace(
            rule,
            expr=f"absent({slo.presence.promql()})",
            for_=format_window(spec.windows.no_data),
        )
        for rule in no_data_alerts(slo, spec)
    )


RUN_GENERATORS: Final = tuple(
    run_no_data_alerts if generate is no_data_alerts else generate for generate in GENERATORS
)
"""The generator chain of ``alerts.rules``, with the rehearsal's no-data alert."""


def run_rules(plan: Plan, webhook_url: str) -> RunRules:
    """The plan's SLOs as rules over ``plan.monitoring.alertWindows``, for what a
    rehearsal serves (the load process); pages and tickets go to ``webhook_url``, and
    pages also to ``monitoring.pageWebhook`` with the token ``write_page_secret`` writes.

    Raises ``UsageError`` when an SLO cannot be expressed (a latency threshold that is
    not a bucket boundary, see docs/alerts.md).
    """
    windows = plan.monitoring.alert_windows
    slos = plan.slos.model_copy(update={"alert_windows": windows})
    spec = alert_spec(plan.model_copy(update={"slos": slos}))
    not_watched = {skip.id: skip.reason for skip in spec.skipped}
    not_watched |= {
        slo.id: f"served by {slo.served_by}, which a rehearsal does not run"
        for slo in spec.slos
        if slo.served_by != LOAD_PROCESS
    }
    spec = dataclasses.replace(
        spec, slos=tuple(slo for slo in spec.slos if slo.served_by == LOAD_PROCESS)
    )
    rules = build_rules(spec, RUN_GENERATORS) if spec.slos else None
    notes = (f"plan {plan.name}, rehearsal rules over window set {windows}",)
    receiver = plan.monitoring.page_webhook
    more = () if receiver is None else (BearerWebhook(receiver.url, PAGE_SECRET_FILE),)
    routes = build_alertmanager(
        spec.windows, page_url=webhook_url, ticket_url=webhook_url, page_webhooks=more
    )
    return RunRules(
        windows=windows,
        rules=render_yaml(rules.to_dict(), (*notes, *rules.notes)) if rules else None,
        alertmanager=render_yaml(routes, notes),
        watched=tuple(slo.id for slo in spec.slos),
        not_watched=dict(sorted(not_watched.items())),
    )


def write_page_secret(plan: Plan, layout: MonitoringLayout, environ: Mapping[str, str]) -> None:
    """Write the secret of ``monitoring.pageWebhook`` (from its ``credentialsEnv``) to
    ``layout.page_secret``, readable by this user only; nothing without a page webhook.

    Call it before Alertmanager starts. Raises ``UsageError`` (naming the variable, never
    a value) when the variable is unset or empty.
    """
    receiver = plan.monitoring.page_webhook
    if receiver is None:
        return
    secret = environ.get(receiver.credentials_env, "").strip()
    if not secret:
        raise UsageError(
            f"monitoring.pageWebhook.credentialsEnv: ${receiver.credentials_env} is not set "
            "or empty: export it with the secret of the receiver (peakops rollback serve)"
        )
    layout.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(layout.page_secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)  # an older file may have had a wider mode
        file.write(secret)


def prometheus_config(
    layout: MonitoringLayout,
    *,
    run_id: str,
    relay: str,
    alertmanager: str | None,
    rules: bool,
) -> dict[str, Any]:
    """``prometheus.yml``: 1 s scrape and evaluation, the OMS (file_sd), the load process
    (through the relay at ``relay``, ``host:port``), the run's rules, Alertmanager."""
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
            "external_labels": {"peakops_run": run_id},
        },
        "scrape_configs": [
            {"job_name": JOB_OMS, "file_sd_configs": [{"files": [str(layout.oms_targets)]}]},
            {
                "job_name": JOB_LOAD,
                "metrics_path": LOAD_METRICS_PATH,
                "static_configs": [{"targets": [relay]}],
            },
        ],
    }
    if rules:
        config["rule_files"] = [str(layout.rules)]
    if alertmanager is not None:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return config


def targets_document(targets: Sequence[str]) -> list[dict[str, Any]]:
    """A file_sd document listing ``targets`` (``host:port``)."""
    return [{"targets": list(targets), "labels": {}}] if targets else []


def prometheus_argv(binary: str, layout: MonitoringLayout, port: int) -> list[str]:
    """Prometheus on 127.0.0.1:``port`` with the run's files (never Debian's defaults)."""
    return [
        binary,
        f"--config.file={layout.prometheus_config}",
        f"--storage.tsdb.path={layout.prometheus_data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--enable-feature=exemplar-storage",
        f"--rules.alert.resend-delay={RESEND_DELAY}",
        "--log.level=warn",
    ]


def alertmanager_argv(binary: str, layout: MonitoringLayout, port: int) -> list[str]:
    """Alertmanager on 127.0.0.1:``port``, gossip off (an empty cluster address)."""
    return [
        binary,
        f"--config.file={layout.alertmanager_config}",
        f"--storage.path={layout.alertmanager_data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
