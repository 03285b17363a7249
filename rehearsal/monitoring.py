"""Prometheus and Alertmanager in the loop of a rehearsal.

``default_monitor`` picks one of three, from the plan and what is installed:

* ``LocalMonitor`` (the default when ``prometheus`` is on PATH): starts Alertmanager and
  Prometheus on 127.0.0.1 with their files in ``<run>/monitoring/``
  (``rehearsal.monitoring_config``), the plan's SLOs as rules over its alert windows,
  and scrapes the OMS processes and the load process (through the relay,
  ``rehearsal.monitoring_relay``). Before the load starts it waits until every OMS
  target is up and Prometheus lists Alertmanager; at the end it stops both.
* ``ExternalMonitor`` (``monitoring.prometheusUrl``): starts nothing, records the alerts
  of an existing Prometheus.
* ``NoMonitor``: turned off by the plan, or the binaries are missing (said once on
  stderr, with how to install them).

Alerts become ``alert_firing`` / ``alert_resolved`` events (``rehearsal.monitoring_alerts``),
Alertmanager's notifications ``alert_notified``. Monitoring never decides a verdict: a
Prometheus that fails is recorded and said once, and the rehearsal goes on.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

import httpx

from collectors.rundir import EventLog, RunDir
from platforms.base import Endpoints
from rehearsal.monitoring_alerts import AlertTracker, AlertWatch
from rehearsal.monitoring_config import (
    INSTALL_HINT,
    WEBHOOK_PATH,
    Binaries,
    MonitoringLayout,
    alertmanager_argv,
    find_binaries,
    prometheus_argv,
    prometheus_config,
    run_rules,
    targets_document,
    write_page_secret,
)
from rehearsal.monitoring_procs import Server, start_server
from rehearsal.monitoring_queries import not_ready, run_summary
from rehearsal.monitoring_relay import MetricsRelay
from slo.errors import UsageError
from slo.hosts import check_url
from slo.plan import Plan
from slo.runfiles import (
    EVENTS_FILE,
    MONITORING_DIR,
    MONITORING_FAILED,
    MONITORING_SKIPPED,
    MONITORING_STARTED,
    MONITORING_STOPPED,
)

__all__ = [
    "START_TIMEOUT_S",
    "ExternalMonitor",
    "LocalMonitor",
    "Monitor",
    "MonitorFactory",
    "NoMonitor",
    "Notice",
    "default_monitor",
    "stderr_notice",
]

START_TIMEOUT_S: Final = 15.0
"""How long the load waits for targets up and Alertmanager discovered: Prometheus
applies targets on 5 s ticks after it starts, so 5-6 s, or 10-11 s when the OMS took
longer than the first tick to come up."""

Notice = Callable[[str], None]
"""Says something once to the person running the rehearsal (stderr)."""


def stderr_notice(message: str) -> None:
    print(f"peakops: {message}", file=sys.stderr, flush=True)


class Monitor(Protocol):
    """Monitoring around a rehearsal: entered before the target starts, ``ready`` once
    it is up (before the load), exited after everything else."""

    def __enter__(self) -> Monitor: ...

    def __exit__(self, *exc: object) -> None: ...

    def ready(self, endpoints: Endpoints) -> None: ...

    @property
    def prometheus_url(self) -> str | None:
        """The Prometheus the gate may read (``source: prometheus``), None without one."""
        ...


MonitorFactory = Callable[[Plan, RunDir, Notice, frozenset[str]], Monitor]
"""Builds the monitor of a run: (plan, run, notice, hosts the operator allows)."""


def default_monitor(
    plan: Plan,
    run: RunDir,
    notice: Notice = stderr_notice,
    allowed_hosts: frozenset[str] = frozenset(),
    *,
    which: Callable[[str], str | None] = shutil.which,
) -> Monitor:
    """The monitor the plan asks for and this machine can run (see the module doc)."""
    events = EventLog(run, source="monitoring")
    if not plan.monitoring.enabled:
        return NoMonitor(events, "monitoring.enabled is false in the plan")
    if plan.monitoring.prometheus_url is not None:
        return ExternalMonitor(plan, plan.monitoring.prometheus_url, events, notice)
    binaries = find_binaries(which)
    if binaries.prometheus is None:
        missing = " and ".join(binaries.missing())
        reason = f"{missing} not found on PATH"
        notice(
            f"Prometheus in the loop skipped: {reason}; the run is judged from its own "
            f"records as always. To watch its SLO alerts live: {INSTALL_HINT} "
            "(or monitoring.enabled: false in the plan)"
        )
        return NoMonitor(events, reason)
    return LocalMonitor(plan, run, binaries, events, notice, allowed_hosts)


class NoMonitor:
    """Nothing watched; says why in ``monitoring_skipped``."""

    def __init__(self, events: EventLog | None = None, reason: str = "") -> None:
        self._events = events
        self._reason = reason

    def __enter__(self) -> NoMonitor:
        if self._events is not None:
            self._events.emit(MONITORING_SKIPPED, reason=self._reason)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._events is not None:
            self._events.close()

    def ready(self, endpoints: Endpoints) -> None:
        return None

    @property
    def prometheus_url(self) -> str | None:
        return None


class _Watching:
    """What both real monitors share: the alert watch, failures said once, the end."""

    def __init__(self, plan: Plan, events: EventLog, notice: Notice) -> None:
        self._plan = plan
        self._events = events
        self._notice = notice
        self._watch: AlertWatch | None = None
        self._failed = False

    def _fail(self, what: str, error: str, *, record: bool = True) -> None:
        if record:
            self._events.emit(MONITORING_FAILED, what=what, error=error)
        if not self._failed:
            self._failed = True
            self._notice(f"Prometheus in the loop: {what}: {error}; the rehearsal goes on")

    def _watch_alerts(self, prometheus_url: str) -> None:
        slo_ids = [objective.id for objective in self._plan.slos.objectives]
        self._watch = AlertWatch(
            prometheus_url, AlertTracker(slo_ids), self._events.emit, clock=time.time,
            # AlertWatch records its own monitoring_poll_failed; this only says it once.
            on_failure=lambda error: self._fail("alerts could not be read", error, record=False),
        )  # fmt: skip
        self._watch.start()

    def _stop_watch(self) -> dict[str, Any]:
        if self._watch is None:
            return {}
        still = self._watch.stop()
        return {"alerts_fired": self._watch.fired, "still_firing": still}


class LocalMonitor(_Watching):
    """The rehearsal's own Prometheus and Alertmanager (see the module doc)."""

    def __init__(
        self,
        plan: Plan,
        run: RunDir,
        binaries: Binaries,
        events: EventLog,
        notice: Notice,
        allowed_hosts: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(plan, events, notice)
        self._run = run
        self._binaries = binaries
        self._allowed = allowed_hosts
        # Absolute: Prometheus and Alertmanager read relative paths in their configs
        # from the config file's directory, not ours (``--run-dir runs``).
        self._layout = MonitoringLayout(run.file(MONITORING_DIR).resolve())
        self._relay: MetricsRelay | None = None
        self._servers: list[Server] = []
        self._prometheus: Server | None = None
        self._alertmanager: Server | None = None
        self._info: dict[str, Any] = {}
        self._started = time.time()

    def __enter__(self) -> LocalMonitor:
        try:
            self._start()
        except (OSError, UsageError) as err:
            self._fail("not started", str(err))
            self._stop_servers()
        return self

    def _start(self) -> None:
        layout = self._layout
        layout.root.mkdir(parents=True, exist_ok=True)
        write_page_secret(self._plan, layout, os.environ)  # monitoring.pageWebhook's token
        self._relay = MetricsRelay(self._run.file(EVENTS_FILE), self._events.emit).__enter__()
        rules = run_rules(self._plan, f"http://{self._relay.address}{WEBHOOK_PATH}")
        if rules.rules is not None:
            layout.rules.write_text(rules.rules)
        layout.alertmanager_config.write_text(rules.alertmanager)
        layout.oms_targets.write_text("[]\n")
        taken: set[int] = set()
        if self._binaries.alertmanager is not None:
            binary = self._binaries.alertmanager
            self._alertmanager = start_server(
                "alertmanager", lambda port: alertmanager_argv(binary, layout, port),
                layout.alertmanager_log, taken,
            )  # fmt: skip
            self._servers.append(self._alertmanager)
        else:
            self._notice(
                f"Alertmanager skipped: not found on PATH ({INSTALL_HINT}); "
                "Prometheus still records the run's alerts"
            )
        config = prometheus_config(
            layout, run_id=self._run.run_id, relay=self._relay.address,
            alertmanager=self._alertmanager.address if self._alertmanager else None,
            rules=rules.rules is not None,
        )  # fmt: skip
        layout.prometheus_config.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        assert self._binaries.prometheus is not None
        binary = self._binaries.prometheus
        self._prometheus = start_server(
            "prometheus", lambda port: prometheus_argv(binary, layout, port),
            layout.prometheus_log, taken,
        )  # fmt: skip
        self._servers.append(self._prometheus)
        self._info = {
            "prometheus_url": self._prometheus.url,
            "alertmanager_url": self._alertmanager.url if self._alertmanager else None,
            "alert_windows": rules.windows, "watched": list(rules.watched),
            "not_watched": rules.not_watched, "directory": MONITORING_DIR,
        }  # fmt: skip

    def ready(self, endpoints: Endpoints) -> None:
        """Scrape the OMS, wait for its targets up and Alertmanager discovered, watch."""
        if self._prometheus is None:
            return
        oms = [t for t in endpoints.metrics_targets if self._allowed_target(t)]
        tmp = self._layout.oms_targets.with_suffix(".tmp")
        tmp.write_text(json.dumps(targets_document(oms), indent=2) + "\n")
        tmp.replace(self._layout.oms_targets)  # file_sd must never read half a file
        started = time.monotonic()
        waiting = self._wait(set(oms))
        fields = {
            **self._info,
            "oms_targets": oms,
            "waited_s": round(time.monotonic() - started, 2),
        }
        if waiting:
            fields["not_ready"] = waiting
            self._fail("not ready before the load", "; ".join(waiting))
        self._events.emit(MONITORING_STARTED, mode="local", **fields)
        self._watch_alerts(self._prometheus.url)

    @property
    def prometheus_url(self) -> str | None:
        running = self._prometheus is not None and self._prometheus.running
        return self._prometheus.url if running and self._prometheus is not None else None

    def _allowed_target(self, target: str) -> bool:
        try:
            check_url(
                f"http://{target}", field="metrics target",
                plan_hosts=self._plan.target.allow_hosts, operator_hosts=self._allowed,
            )  # fmt: skip
        except UsageError:
            return False
        return True

    def _wait(self, oms: set[str]) -> list[str]:
        """Until the OMS targets are up and Alertmanager is listed; what is still missing."""
        assert self._prometheus is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        waiting = ["not asked yet"]
        with httpx.Client(trust_env=False, timeout=1.0, base_url=self._prometheus.url) as client:
            while True:
                dead = [s.why_not_running() for s in self._servers if not s.running]
                if dead:
                    return dead
                try:
                    waiting = not_ready(client, oms, self._alertmanager_address())
                except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
                    waiting = [f"prometheus: {type(err).__name__}: {err}"]
                if not waiting or time.monotonic() > deadline:
                    return waiting
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        try:
            fields = self._stop_watch()
            if self._prometheus is not None and self._prometheus.running:
                fields |= run_summary(self._prometheus.url, self._started)
        finally:
            self._stop_servers()
        if self._prometheus is not None:
            self._events.emit(MONITORING_STOPPED, **fields)
        self._events.close()

    def _alertmanager_address(self) -> str | None:
        return self._alertmanager.address if self._alertmanager is not None else None

    def _stop_servers(self) -> None:
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()
        if self._relay is not None:
            self._relay.__exit__(None, None, None)
            self._relay = None


class ExternalMonitor(_Watching):
    """An existing Prometheus: nothing started, its alerts on the plan's SLOs recorded."""

    def __init__(self, plan: Plan, url: str, events: EventLog, notice: Notice) -> None:
        super().__init__(plan, events, notice)
        self._url = url
        self._reachable = False

    def __enter__(self) -> ExternalMonitor:
        try:
            with httpx.Client(trust_env=False, timeout=2.0) as client:
                client.get(f"{self._url}/-/ready").raise_for_status()
        except httpx.HTTPError as err:
            self._fail(f"{self._url} is not reachable", f"{type(err).__name__}: {err}")
        else:
            self._reachable = True
        return self

    @property
    def prometheus_url(self) -> str | None:
        return self._url if self._reachable else None

    def ready(self, endpoints: Endpoints) -> None:
        if self._reachable:
            self._events.emit(MONITORING_STARTED, mode="external", prometheus_url=self._url)
            self._watch_alerts(self._url)

    def __exit__(self, *exc: object) -> None:
        fields = self._stop_watch()
        if self._reachable:
            self._events.emit(MONITORING_STOPPED, **fields)
        self._events.close()
