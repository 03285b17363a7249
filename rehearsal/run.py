"""One rehearsal, start to verdict: target up, flood + chaos + store watch, gate.

Every stage writes into the run directory as it goes. The verdict has one author, the
gate (``rollout.gate``), called once at the end whatever happened (Ctrl-C included):
``peakops gate RUN_DIR`` afterwards rewrites the same files byte for byte. The
platform, the load runner and the chaos launcher are seams (``rehearsal.seams``), so
the orchestration is tested with fakes.

The plan's adapter is checked before anything starts (it imports, fits ``OmsAdapter``,
its ``{env: NAME}`` options are set), the plan's directory goes into ``run.json``
(``plan_dir``: every load process finds an adapter module next to the plan there), and
after the load, with the target still up, the run's confirmed orders are cancelled
(``target.cleanup``, on by default for url targets): an event, never the verdict.

Prometheus and Alertmanager (``rehearsal.monitoring``) are started before the target,
told its metrics targets once it is up, waited for before the load, and stopped after
everything else, the gate included: they record alerts, and the gate reads the
objectives marked ``source: prometheus`` from that Prometheus.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from collectors.adapters import check_plan_adapter, plan_adapter
from collectors.cleanup import cleanup_run
from collectors.compress import compress_closed
from collectors.rundir import EventLog, RunDir, new_run_id
from collectors.storewatch import StoreWatch
from platforms.base import Endpoints, Platform
from rehearsal.chaos import fault_handle
from rehearsal.control import ControlServer
from rehearsal.monitoring import (
    START_TIMEOUT_S,
    Monitor,
    MonitorFactory,
    NoMonitor,
    Notice,
    default_monitor,
    stderr_notice,
)
from rehearsal.probe import rollback_after_load
from rehearsal.release import Release
from rehearsal.release_watch import ReleaseWatch
from rehearsal.schedule import ChaosSchedule
from rehearsal.seams import Seams
from rehearsal.shutdown import Stopped, stop_on_signals
from rollout.gate import GateResult, gate_run
from rollout.promql_gate import PromSource
from slo.errors import InfraError, PeakopsError, UsageError
from slo.hosts import check_url
from slo.plan import Plan, plan_snapshot
from slo.policy import policy
from slo.runfiles import CONTROL_FILE
from slo.target import resolve_adapter_options

__all__ = ["Progress", "deadline_s", "git_sha", "rehearse"]

Progress = Callable[[float, float], None]
"""Called with (elapsed seconds, planned seconds) while load runs."""

CLEANUP_BUDGET_S = 60.0
"""How long the end-of-run cleanup may cancel orders; what is left is reported, and
``peakops cleanup RUN_DIR`` goes on from there."""


def git_sha() -> str | None:
    """The commit of the peakops checkout running this rehearsal, if it is one."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def rehearse(
    plan: Plan,
    run_root: Path,
    *,
    progress: Progress | None = None,
    processes: int = 1,
    seams: Seams | None = None,
    allowed_hosts: frozenset[str] = frozenset(),
    plan_dir: Path | None = None,
    monitor: MonitorFactory | None = None,
    notice: Notice = stderr_notice,
) -> GateResult:
    """Run one rehearsal of ``plan``; return the gate's result (files already written).

    ``allowed_hosts``: the hosts the operator allows besides loopback
    (``PEAKOPS_ALLOWED_HOSTS``, ``--allow-host``); a target outside them is refused
    before any connection. ``plan_dir``: the plan file's directory, where its adapter
    module and SKU file may live (recorded in ``run.json``).

    ``processes`` > 1 spreads the load over that many Locust worker processes (the
    default seams). SIGINT, SIGTERM, SIGHUP and the rehearsal's deadline take one path
    (``rehearsal.shutdown``): the load, the chaos steps (their rollbacks played) and the
    target are stopped, ``run.json`` says ``interrupted``, what was recorded is gated
    (inconclusive), and ``Stopped`` is raised with the gate's result attached.

    ``monitor`` builds the run's Prometheus in the loop: by default the plan's
    (``rehearsal.monitoring.default_monitor``), none when the caller passes its own
    ``seams`` (fakes need no Prometheus). ``notice`` says things once to the operator
    (stderr), such as monitoring skipped for want of its binaries.
    """
    if monitor is None:
        monitor = default_monitor if seams is None else _no_monitor
    seams = seams or Seams.default(processes)
    run = RunDir.create(run_root, new_run_id(), plan=plan_snapshot(plan), git_sha=git_sha())
    plan_dir = plan_dir.resolve() if plan_dir is not None else None
    if plan_dir is not None:
        run.update_header(plan_dir=str(plan_dir))
    events = EventLog(run, source="rehearsal")
    events.emit("rehearsal_started", plan=plan.name, run_id=run.run_id)
    stopped: Stopped | None = None
    # Monitoring is left last (after the gate): objectives with ``source: prometheus``
    # are read from the rehearsal's own Prometheus while it still runs.
    with stop_on_signals(deadline_s(plan)) as signals, contextlib.ExitStack() as late:
        status, detail = "crashed", {}
        monitoring: Monitor = NoMonitor()
        try:
            _check_allowed(plan, allowed_hosts)
            _check_adapter(plan, plan_dir)
            _check_page_webhook(plan)
            platform = seams.platform(plan, run, events)
            monitoring = late.enter_context(monitor(plan, run, notice, allowed_hosts))
            with _running(platform, plan, events) as endpoints:
                run.update_header(
                    target_url=endpoints.base_url, revision=platform.current_revision()
                )
                monitoring.ready(endpoints)
                release = Release(plan, platform, events, run.run_id)
                _flood(plan, run, events, platform, endpoints, seams, progress, release)
                rollback_after_load(plan, run, events, release, endpoints, seams.load, git_sha)
                if plan.target.cleanup_enabled and plan.load.scenario == "shoppers":
                    _cleanup(plan, run, events, endpoints, plan_dir)
            status = "completed"
        except (Stopped, KeyboardInterrupt) as stop:  # KeyboardInterrupt: no handler here
            stopped = stop if isinstance(stop, Stopped) else Stopped(signal.SIGINT, "interrupted")
            status = "interrupted"
            detail = {"signal": stopped.signal_name, "reason": stopped.reason}
            events.emit("interrupted", **detail)
        finally:
            signals.hold()  # the stamp and the gate are not cut short by another signal
            run.finish(status, **detail)
            result = _gate(run, plan, events, monitoring.prometheus_url)
            events.emit("streams_compressed", **compress_closed(run).event_fields())
            events.close()
    stopped = stopped or signals.held()
    if stopped is not None:
        stopped.result = result
        raise stopped
    return result


def deadline_s(plan: Plan) -> float:
    """How long a rehearsal may take in all, from the start of its target to its verdict."""
    rehearsal = policy().rehearsal
    return (
        rehearsal.start_timeout_s
        + plan.load.duration_s
        + plan.target.probes.settle_timeout_s
        + policy().load.grace_s
        + rehearsal.gate_timeout_s
        + (CLEANUP_BUDGET_S if plan.target.cleanup_enabled else 0.0)
        + (START_TIMEOUT_S if plan.monitoring.enabled else 0.0)
        + (_after_load_s(plan) if plan.rollback.active else 0.0)
    )


def _after_load_s(plan: Plan) -> float:
    """A rollback by the gate after the load: the provisional gate, the rollback, the probe."""
    rehearsal = policy().rehearsal
    return rehearsal.gate_timeout_s + rehearsal.start_timeout_s + plan.rollback.probe_s + (
        policy().load.grace_s)  # fmt: skip


def _no_monitor(_plan: Plan, _run: RunDir, _notice: Notice, _hosts: frozenset[str]) -> NoMonitor:
    return NoMonitor()


def _check_adapter(plan: Plan, plan_dir: Path | None) -> None:
    """The adapter imports and fits, and its secrets are set, before anything starts."""
    check_plan_adapter(plan, plan_dir)
    resolve_adapter_options(plan.target.adapter_options, os.environ)


def _check_page_webhook(plan: Plan) -> None:
    """The secret of ``monitoring.pageWebhook`` is set, before anything starts (exit 2)."""
    receiver = plan.monitoring.page_webhook
    if receiver is None or not plan.monitoring.enabled:
        return
    if not os.environ.get(receiver.credentials_env, "").strip():
        raise UsageError(
            f"monitoring.pageWebhook.credentialsEnv: ${receiver.credentials_env} is not "
            "set or empty: export the secret of the receiver (peakops rollback serve)"
        )


def _cleanup(
    plan: Plan, run: RunDir, events: EventLog, endpoints: Endpoints, plan_dir: Path | None
) -> None:
    """Cancel the run's confirmed orders (target still up); the outcome is an event only."""
    try:
        adapter = plan_adapter(
            plan, base_url=endpoints.base_url, truth_url=endpoints.truth_url,
            store_urls=endpoints.store_urls, plan_dir=plan_dir, env=os.environ,
            run_id=run.run_id,
        )  # fmt: skip
        report = cleanup_run(run, adapter, budget_s=CLEANUP_BUDGET_S)
    except Exception as err:  # the user's adapter may raise anything: cleanup never decides
        error = str(err) if isinstance(err, PeakopsError) else f"{type(err).__name__}: {err}"
        events.emit("cleanup_failed", error=error)
        return
    events.emit("cleanup_finished", **report.event_fields())


def _check_allowed(plan: Plan, operator: frozenset[str]) -> None:
    """Load goes only where the plan and the operator both allow (loopback by default)."""
    target = plan.target
    for field, url in (("target.baseUrl", target.base_url), ("target.truthUrl", target.truth_url)):
        if url is not None:
            check_url(url, field=field, plan_hosts=target.allow_hosts, operator_hosts=operator)
    prometheus = plan.monitoring.prometheus_url
    if plan.monitoring.enabled and prometheus is not None:
        check_url(
            prometheus, field="monitoring.prometheusUrl",
            plan_hosts=target.allow_hosts, operator_hosts=operator,
        )  # fmt: skip


@contextlib.contextmanager
def _running(platform: Platform, plan: Plan, events: EventLog) -> Iterator[Endpoints]:
    """The target up for the block (stopped after it, whatever happens)."""
    try:
        platform.start()
        endpoints = platform.endpoints()
        health = platform.health()
        if not health.ok:  # before the flood: an unreachable target is not an SLO breach
            raise InfraError(f"target {endpoints.base_url} is not reachable: {health.detail}")
        events.emit(
            "target_ready", url=endpoints.base_url, kind=platform.kind,
            revision=platform.current_revision(),
        )  # fmt: skip
        if plan.chaos:
            removed = platform.reap_faults()
            events.emit("chaos_sweep", platform=platform.kind, removed=removed)
        yield endpoints
    finally:
        platform.stop()


def _flood(
    plan: Plan,
    run: RunDir,
    events: EventLog,
    platform: Platform,
    endpoints: Endpoints,
    seams: Seams,
    progress: Progress | None,
    release: Release,
) -> None:
    """The load, with the chaos schedule, the store watch and the release watch beside it."""
    if plan.load.scenario == "url":  # the flood requests the URL's path itself
        origin = urlsplit(endpoints.base_url)
        endpoints = replace(endpoints, base_url=f"{origin.scheme}://{origin.netloc}")
    duration = plan.load.duration_s
    with fault_handle(platform, run) as handle, _control(platform, release, run):
        chaos = ChaosSchedule(plan, run, events, launcher=seams.chaos(), handle=handle)
        watch = ReleaseWatch(plan, run, events, release)
        with chaos, StoreWatch(run, endpoints.store_urls), watch:
            seams.load.run(
                run,
                endpoints,
                duration_s=duration,
                grace_s=policy().load.grace_s + plan.target.probes.settle_timeout_s,
                on_tick=lambda elapsed: progress(elapsed, duration) if progress else None,
            )


def _control(
    platform: Platform, release: Release, run: RunDir
) -> contextlib.AbstractContextManager[object]:
    """The control API (``peakops deploy``, ``rollback --platform local``) of a local platform."""
    if platform.kind != "local":
        return contextlib.nullcontext()
    return ControlServer(release, run.file(CONTROL_FILE))


def _gate(run: RunDir, plan: Plan, events: EventLog, prometheus_url: str | None) -> GateResult:
    """The gate on what was recorded; its verdict goes into the timeline after it.

    With the rehearsal's Prometheus still up, objectives marked ``source: prometheus``
    are read from it (the others from the run directory, as always)."""
    source = None if prometheus_url is None else PromSource(prometheus_url, only_marked=True)
    try:
        result = gate_run(run, plan, source)
    except PeakopsError as err:
        events.emit("gate_failed", error=str(err))
        raise
    events.emit("verdict", status=result.verdict.status.value, exit_code=result.verdict.exit_code)
    return result
