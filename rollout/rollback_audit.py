"""The audit trail of a rollback: one record, told three ways.

The same :class:`AuditRecord` becomes the message of a Kubernetes Event, the JSON of
an annotation on the target, and lines of the run's ``events.jsonl`` (when a run
directory is given). Nothing here talks to a cluster. See docs/rollback.md.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors.rundir import EventLog, RunDir, new_run_id
from slo.errors import PeakopsError

__all__ = ["EVENT_REASON", "AuditRecord", "RunAudit", "iso_utc"]

EVENT_REASON = "PeakopsRollback"
"""The ``reason`` of every Kubernetes Event a rollback or an abort leaves."""


def iso_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class AuditRecord:
    """Who rolled what back, from which revision to which, why, and when."""

    target: str  # "deployment shop/oms" or "rollout shop/web"
    action: str  # "rollback" or "abort"
    from_revision: str
    to_revision: str
    reason: str
    run_id: str
    at: str

    def message(self) -> str:
        """One line for an Event and for people."""
        if self.action == "abort":
            done = f"peakops aborted {self.target} at revision {self.from_revision}"
        else:
            done = (
                f"peakops rolled {self.target} back from revision {self.from_revision} "
                f"to {self.to_revision}"
            )
        return f"{done}: {self.reason} (run {self.run_id})"

    def to_dict(self) -> dict[str, str]:
        return {
            "target": self.target, "action": self.action, "from": self.from_revision,
            "to": self.to_revision, "reason": self.reason, "run_id": self.run_id, "at": self.at,
        }  # fmt: skip

    def event_fields(self) -> dict[str, str]:
        """For ``events.jsonl``, whose records carry their own time."""
        return {k: v for k, v in self.to_dict().items() if k != "at"}

    def annotation(self) -> str:
        """Compact JSON for the target's ``peakops.dev/last-rollback`` annotation."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)


class RunAudit:
    """Appends rollback events to a run's ``events.jsonl``; does nothing without a run."""

    def __init__(self, run: RunDir | None, run_id: str) -> None:
        self.run_id = run_id
        self._log = EventLog(run, source="rollback") if run is not None else None

    @classmethod
    def open(cls, run_dir: Path | None, *, now: float | None = None) -> RunAudit:
        """The run directory's audit (its id is the run id), or a manual run id.

        A directory that is not a peakops run directory is a RunDirError (exit 2),
        raised before anything is sent to a cluster.
        """
        if run_dir is None:
            return cls(None, f"manual-{new_run_id(time.time() if now is None else now)}")
        run = RunDir.open(run_dir)
        return cls(run, run.run_id)

    @property
    def recording(self) -> bool:
        return self._log is not None

    def emit(self, event_type: str, **fields: Any) -> None:
        if self._log is not None:
            self._log.emit(event_type, **({"run_id": self.run_id} | fields))

    def failed(self, event_type: str, err: PeakopsError, **fields: Any) -> None:
        self.emit(event_type, error=str(err), exit_code=int(err.exit_code), **fields)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
