"""Every file name of a run directory, in one place (docs/run-directory.md).

Writers and readers in every package (the load process, the chaos runner, the gate,
the report) import these names, so a file is never called two things. Plain strings,
no dependencies: the chaos runner, a child with few imports, uses it too.
"""

from __future__ import annotations

__all__ = [
    "ALERT_FIRING",
    "ALERT_NOTIFIED",
    "ALERT_RESOLVED",
    "CHAOS_HANDLE_FILE",
    "CLEANUP_FILE",
    "CONTROL_FILE",
    "DRIFT_FILE",
    "EVENTS_FILE",
    "HEADER_FILE",
    "JUNIT_FILE",
    "LATENCY_FILE",
    "LEDGER_FILE",
    "LOAD_FILE",
    "LOAD_LOG",
    "MONITORING_DIR",
    "MONITORING_FAILED",
    "MONITORING_POLL_FAILED",
    "MONITORING_SKIPPED",
    "MONITORING_STARTED",
    "MONITORING_STOPPED",
    "OMS_DIR",
    "PROBE_DIR",
    "RECONCILE_FILE",
    "REPORT_FILE",
    "ROLLBACK_FAILED",
    "ROLLBACK_FINISHED",
    "ROLLBACK_REFUSED",
    "ROLLBACK_SKIPPED",
    "ROLLBACK_STARTED",
    "ROLLOUT_ABORTED",
    "STOCK_FILE",
    "STORES_FILE",
    "SUMMARY_FILE",
    "TRACES_DIR",
    "TRACES_FILE",
    "VERDICT_FILE",
    "chaos_journal",
    "chaos_log",
    "chaos_stem",
    "worker_traces_file",
]

# Written while the run goes (append-only JSON lines, flushed record by record).
HEADER_FILE = "run.json"
EVENTS_FILE = "events.jsonl"
LATENCY_FILE = "latency.jsonl"
LOAD_FILE = "load.jsonl"
LEDGER_FILE = "ledger.jsonl"
STOCK_FILE = "stock.jsonl"
STORES_FILE = "stores.jsonl"
TRACES_FILE = "traces.jsonl"
LOAD_LOG = "load.log"
CHAOS_HANDLE_FILE = "chaos-platform.json"
CLEANUP_FILE = "cleanup.jsonl"
CONTROL_FILE = "control.json"
"""Where a running rehearsal serves its local platform's control API (platforms.local_control)."""
"""Orders ``peakops cleanup`` (or the rehearsal's end) cancelled, or could not, one a line."""
OMS_DIR = "oms"
"""The embedded OMS's databases and logs."""
TRACES_DIR = "traces"
"""Server-side spans of the embedded OMS, one file per process."""
MONITORING_DIR = "monitoring"
PROBE_DIR = "probe"
"""A run directory inside the run: the short flood after a rollback made by the gate."""
"""The rehearsal's Prometheus and Alertmanager: configuration, rules, data, logs."""

# Events of Prometheus in the loop (``events.jsonl``, source ``monitoring``).
MONITORING_STARTED = "monitoring_started"
MONITORING_SKIPPED = "monitoring_skipped"
MONITORING_FAILED = "monitoring_failed"
MONITORING_POLL_FAILED = "monitoring_poll_failed"
MONITORING_STOPPED = "monitoring_stopped"
ALERT_FIRING = "alert_firing"
ALERT_RESOLVED = "alert_resolved"
ALERT_NOTIFIED = "alert_notified"

# Event types of EVENTS_FILE written by a rollback (docs/rollback.md).
ROLLBACK_STARTED = "rollback_started"
"""A rollback's patch is about to be sent: target, from and to revision, reason, run id."""
ROLLBACK_FINISHED = "rollback_finished"
"""The rolled-back release is fully rolled out (or, for an Argo Rollout, the abort is done)."""
ROLLBACK_FAILED = "rollback_failed"
"""A rollback that started did not finish: the error and its exit code."""
ROLLBACK_SKIPPED = "rollback_skipped"
"""Nothing was sent: the target already runs what a rollback would restore."""
ROLLBACK_REFUSED = "rollback_refused"
"""Nothing was sent: paused, or a second rollback for the same bad revision (a loop)."""
ROLLOUT_ABORTED = "rollout_aborted"
"""An Argo Rollout was aborted instead of rolled back."""

# Written by the gate alone, so ``peakops gate RUN_DIR`` reproduces them.
DRIFT_FILE = "drift.json"
RECONCILE_FILE = "reconcile.json"
VERDICT_FILE = "verdict.json"
JUNIT_FILE = "junit.xml"
SUMMARY_FILE = "summary.md"
REPORT_FILE = "report.html"
"""The self-contained HTML report (rollout.report); ``peakops report`` rebuilds it too."""


def worker_traces_file(source: str) -> str:
    """Client spans of one Locust worker (``traces-worker-1.jsonl``)."""
    return f"traces-{source}.jsonl"


def chaos_stem(index: int, experiment: str) -> str:
    """The name shared by a chaos step's files: ``chaos-2-network-cut``."""
    return f"chaos-{index}-{experiment}"


def chaos_journal(index: int, experiment: str) -> str:
    """The Chaos Toolkit journal of a chaos step."""
    return f"{chaos_stem(index, experiment)}.journal.json"


def chaos_log(index: int, experiment: str) -> str:
    """The runner's log of a chaos step."""
    return f"{chaos_stem(index, experiment)}.log"
