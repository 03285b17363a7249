"""When a rollback may happen: at most once per bad revision, never into a loop.

Pure: no I/O, no Kubernetes. A revision is named by its number (for people) and its
template fingerprint (what survives a controller renumbering the restored revision, and
a pipeline re-deploying the same bad release under a new number). Every revision a
rollback left is *marked bad*; :func:`decide` then refuses

- to roll back again while a marked template is running (at most once per bad revision:
  peakops and a deploy pipeline must not take turns), and
- to restore a marked template (``kubectl rollout undo`` twice in a row would bring the
  bad release straight back: a rollback loop),

and does nothing when the target template is already running, or when the same run
already rolled back to what is running (idempotent retries). See docs/rollback.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from slo.errors import UsageError

__all__ = [
    "MAX_MARKS",
    "Action",
    "BadMark",
    "Decision",
    "Marks",
    "RevisionRef",
    "RollbackRefused",
    "decide",
]

MAX_MARKS = 20
"""Bad templates remembered per target (the newest); an annotation must stay small."""


class RollbackRefused(UsageError):
    """A rollback the policy refuses before anything is sent (exit 2)."""


class Action(StrEnum):
    proceed = "proceed"
    already_current = "already_current"
    already_rolled_back = "already_rolled_back"


@dataclass(frozen=True)
class RevisionRef:
    """A revision: its number as the platform counts it, and its template fingerprint."""

    revision: str
    fingerprint: str


@dataclass(frozen=True)
class BadMark:
    """Why a template is marked bad: the revision it was, and the rollback that left it."""

    revision: str
    run_id: str
    reason: str
    at: str
    to_fingerprint: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "revision": self.revision, "run_id": self.run_id, "reason": self.reason,
            "at": self.at, "to": self.to_fingerprint,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BadMark:
        return cls(
            revision=str(data.get("revision", "?")), run_id=str(data.get("run_id", "?")),
            reason=str(data.get("reason", "")), at=str(data.get("at", "")),
            to_fingerprint=str(data.get("to", "")),
        )  # fmt: skip


@dataclass(frozen=True)
class Marks:
    """The bad templates of one target, by fingerprint, oldest first."""

    bad: Mapping[str, BadMark] = field(default_factory=dict)

    def with_bad(self, fingerprint: str, mark: BadMark) -> Marks:
        """These marks plus ``fingerprint`` (newest), the oldest dropped past MAX_MARKS."""
        bad = {k: v for k, v in self.bad.items() if k != fingerprint}
        bad[fingerprint] = mark
        return Marks(dict(list(bad.items())[-MAX_MARKS:]))

    def last(self) -> BadMark | None:
        return list(self.bad.values())[-1] if self.bad else None

    def encode(self) -> str:
        """Compact JSON for an annotation."""
        data = {key: mark.to_dict() for key, mark in self.bad.items()}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None) -> Marks:
        """Read :meth:`encode`'s JSON; a missing or unreadable value is no marks.

        Unreadable marks are not fatal: the refusal they would give is lost, but refusing
        every rollback of a target because someone hand-edited an annotation is worse.
        """
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        return cls({
            str(key): BadMark.from_dict(value) for key, value in data.items()
            if isinstance(value, dict)
        })  # fmt: skip


@dataclass(frozen=True)
class Decision:
    action: Action
    message: str


def decide(
    what: str, current: RevisionRef, target: RevisionRef, marks: Marks, *, run_id: str
) -> Decision:
    """Whether rolling ``what`` back from ``current`` to ``target`` may go ahead.

    Returns a proceed or do-nothing :class:`Decision`; raises :class:`RollbackRefused`
    when the rollback would be a second one for the same bad revision or a loop.
    """
    if target.fingerprint == current.fingerprint:
        return Decision(
            Action.already_current,
            f"{what} already runs the template of revision {target.revision}: nothing to do",
        )
    last = marks.last()
    if last is not None and last.run_id == run_id and last.to_fingerprint == current.fingerprint:
        return Decision(
            Action.already_rolled_back,
            f"run {run_id} already rolled {what} back from revision {last.revision} "
            f"to what runs now: nothing to do",
        )
    if current.fingerprint in marks.bad:
        mark = marks.bad[current.fingerprint]
        raise RollbackRefused(
            f"refusing to roll back {what} again: revision {current.revision} runs the "
            f"template peakops already rolled back from once (revision {mark.revision}, "
            f"run {mark.run_id}, {mark.reason!r}); peakops rolls back at most once per bad "
            "revision: fix the release, or roll back by hand"
        )
    if target.fingerprint in marks.bad:
        mark = marks.bad[target.fingerprint]
        raise RollbackRefused(
            f"refusing to roll {what} back to revision {target.revision}: peakops marked "
            f"its template bad when it rolled back from it (revision {mark.revision}, run "
            f"{mark.run_id}, {mark.reason!r}); restoring it would be a rollback loop; "
            "choose a good revision with --to-revision"
        )
    return Decision(
        Action.proceed, f"rolling {what} back from revision {current.revision} to {target.revision}"
    )
