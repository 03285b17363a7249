"""The rehearsal's target: the platform the plan names, built into the run directory.

The embedded OMS writes its databases and logs under ``<run>/oms`` and its spans under
``<run>/traces``; platform events (replica restarts, deploys) go into ``events.jsonl``.
"""

from __future__ import annotations

from typing import Any

from collectors.rundir import EventLog, RunDir
from platforms.base import Platform
from platforms.factory import build_platform
from slo.plan import Plan
from slo.runfiles import OMS_DIR, TRACES_DIR

__all__ = ["default_platform"]


def default_platform(plan: Plan, run: RunDir, events: EventLog) -> Platform:
    """The platform ``plan`` names, recording its events into the run's timeline."""

    def on_event(event: dict[str, Any]) -> None:
        fields = dict(event)
        events.emit(str(fields.pop("type", "platform_event")), **fields)

    return build_platform(
        plan, run.file(OMS_DIR), traces_dir=run.file(TRACES_DIR), on_event=on_event
    )
