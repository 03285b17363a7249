"""Deploys and rollbacks of a rehearsal's local platform: one at a time, policed, recorded.

Everything that changes the release during a rehearsal goes through one ``Release``:
the plan's ``deploy`` step, the in-flood analysis (``rehearsal.release_watch``), the
end-of-run gate, and the control API other commands reach (``rehearsal.control``:
``peakops deploy``, ``peakops rollback --platform local``, ``watch``,
``rollback serve``). A lock keeps them from overlapping, and the plan's rollback
policy applies to every automatic rollback (any source but ``cli``, a person):

- ``maxPerRevision``: a revision is rolled back from at most that many times;
- never back *to* a revision a rollback left (no rollback loop);
- ``cooldown`` between two automatic rollbacks.

A refusal is an event (``rollback_refused``) and an answer, never an exception; the
gate reads these events (``slo.release``).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from collectors.rundir import EventLog
from platforms.base import Platform
from slo.errors import PeakopsError, UsageError
from slo.plan import Plan
from slo.release_plan import EMBEDDED_VERSIONS
from slo.runfiles import ROLLBACK_FAILED, ROLLBACK_FINISHED, ROLLBACK_REFUSED, ROLLBACK_STARTED

__all__ = ["PERSON", "Release"]

PERSON = "cli"
"""The source of a rollback a person asked for: the automatic-rollback policy does not apply."""


class Release:
    """The release of one rehearsal's platform (see the module doc)."""

    def __init__(
        self,
        plan: Plan,
        platform: Platform,
        events: EventLog,
        run_id: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._plan = plan
        self._platform = platform
        self._events = events
        self.run_id = run_id
        self._clock = clock
        self._lock = threading.Lock()
        self._left: Counter[str] = Counter()  # revision -> rollbacks away from it
        self._last_auto: float | None = None

    @property
    def rolled_back(self) -> bool:
        """Whether a rollback of this rehearsal finished."""
        return sum(self._left.values()) > 0

    def revisions(self) -> dict[str, Any]:
        return {
            "current": self._platform.current_revision(),
            "revisions": self._platform.revisions(),
            "kind": self._platform.kind, "run_id": self.run_id,
        }  # fmt: skip

    def deploy(self, version: str, *, source: str, reason: str = "") -> dict[str, Any]:
        """Roll ``version`` out; the platform records ``deploy_started``/``deploy_finished``."""
        if self._platform.kind != "local":
            raise UsageError(
                f"deploy: the {self._platform.kind} platform is not deployed by peakops"
            )
        if version not in EMBEDDED_VERSIONS:
            known = ", ".join(EMBEDDED_VERSIONS)
            raise UsageError(f"unknown version of the embedded OMS {version!r} (known: {known})")
        with self._lock:
            before = self._platform.current_revision()
            self._events.emit("deploy_requested", version=version, source=source, reason=reason)
            self._platform.deploy(version)
            return {"from_revision": before, "to_revision": version, "source": source}

    def rollback(
        self, *, reason: str, source: str, to_revision: str | None = None
    ) -> dict[str, Any]:
        """Roll back (policy first); ``action``: rolled_back, nothing_to_do or refused.

        Raises ``RevertError`` when the rollout itself fails (recorded first).
        """
        with self._lock:
            current = self._platform.current_revision()
            fields = {"platform": "local", "source": source, "reason": reason,
                      "from_revision": current}  # fmt: skip
            target = self._target(to_revision)
            refusal = self._refusal(current, target, source)
            if refusal is not None:
                self._events.emit(ROLLBACK_REFUSED, **fields, error=refusal)
                return _answer("refused", current, None, refusal)
            if target == current:
                message = f"nothing to do: {current} already runs"
                return _answer("nothing_to_do", current, current, message)
            self._events.emit(ROLLBACK_STARTED, **fields, to_revision=target)
            started = time.monotonic()
            try:
                restored = self._platform.rollback(target)
            except PeakopsError as err:
                self._events.emit(ROLLBACK_FAILED, **fields, error=str(err))
                raise
            elapsed = round(time.monotonic() - started, 3)
            self._left[str(current)] += 1
            if source != PERSON:
                self._last_auto = self._clock()
            self._events.emit(ROLLBACK_FINISHED, **fields, to_revision=restored,
                              elapsed_s=elapsed)  # fmt: skip
            message = f"rolled back from {current} to {restored} in {elapsed:g} s: {reason}"
            return _answer("rolled_back", current, restored, message)

    def _target(self, wanted: str | None) -> str | None:
        """The revision a rollback restores: ``wanted``, else the one before the current."""
        history = self._platform.revisions()
        if wanted is not None:
            return wanted if wanted in history else None
        current = history[-1] if history else None
        earlier = [r for r in history if r != current]
        return earlier[-1] if earlier else None

    def _refusal(self, current: str | None, target: str | None, source: str) -> str | None:
        policy = self._plan.rollback
        if target is None:
            return f"no earlier revision to roll back to (revisions: {self._platform.revisions()})"
        if source == PERSON:
            return None
        if self._left[str(target)] > 0:
            return f"{target} was rolled back from before: restoring it would be a rollback loop"
        if self._left[str(current)] >= policy.max_per_revision:
            return (
                f"{current} was already rolled back {self._left[str(current)]} time(s) "
                f"(rollback.maxPerRevision: {policy.max_per_revision})"
            )
        if self._last_auto is not None and self._clock() - self._last_auto < policy.cooldown_s:
            cooldown = f"rollback.cooldown: {policy.cooldown_s:g} s"
            return f"within the cooldown of the last automatic rollback ({cooldown})"
        return None


def _answer(action: str, before: str | None, after: str | None, message: str) -> dict[str, Any]:
    return {"action": action, "from_revision": before, "to_revision": after, "message": message}
