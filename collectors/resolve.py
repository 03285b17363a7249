"""End of run: ask the OMS what became of operations whose outcome was unknown.

Streams the ledger once, keeping only operations still open (no completion, or an
``info`` one), then asks the adapter about each: a place by its idempotency key, a
cancel by its order. Answers are appended to the ledger as ``resolved`` records;
what the OMS cannot answer (``UNANSWERED``) stays unknown and is counted, and the
checker widens for it. Anything else an adapter call raises is a bug: resolution stops
and reports it (``Resolution.error``) rather than pass it off as an unreachable OMS.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from collectors.adapter import UNANSWERED, OmsAdapter, Outcome
from collectors.ledger import Ledger

__all__ = ["Resolution", "open_operations", "resolve_unknown"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resolution:
    """``unknown`` open operations, ``resolved`` of them; ``unanswered``: asked, but the
    OMS could not answer; ``error``: the bug that stopped resolution ("KeyError: 'x'")."""

    unknown: int
    resolved: int
    unanswered: int = 0
    error: str | None = None

    def event_fields(self) -> dict[str, Any]:
        """The fields of the ``unknown_resolved`` event (``error`` only when there was one)."""
        fields: dict[str, Any] = {
            "unknown": self.unknown, "resolved": self.resolved, "unanswered": self.unanswered,
        }  # fmt: skip
        return fields if self.error is None else {**fields, "error": self.error}


def open_operations(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Operations without a definite outcome: never completed, or completed ``info``."""
    open_ops: dict[str, dict[str, Any]] = {}
    for record in records:
        phase = record.get("phase")
        if phase == "invoke" or phase == "info":
            open_ops[record["op"]] = record
        elif phase in ("ok", "fail"):
            open_ops.pop(record["op"], None)
    return list(open_ops.values())


def resolve_unknown(
    records: Iterable[dict[str, Any]], adapter: OmsAdapter, ledger: Ledger
) -> Resolution:
    """Resolve what can be resolved; returns how many were open and how many resolved.

    Stops at the first call that raises a bug (logged, and returned as ``error``): the
    operations not resolved by then stay unknown.
    """
    pending = open_operations(records)
    resolved = unanswered = 0
    for record in pending:
        try:
            outcome = _ask(record, adapter)
        except UNANSWERED:  # the OMS cannot answer now: the op stays unknown
            unanswered += 1
            continue
        except Exception as err:  # a bug, not an unreachable OMS: stop and say so
            logger.exception("resolving %s %s raised a bug: resolution stops",
                             record.get("type"), record.get("op"))  # fmt: skip
            return Resolution(len(pending), resolved, unanswered, f"{type(err).__name__}: {err}")
        if outcome.phase in ("ok", "fail"):
            fields: dict[str, Any] = {"reason": outcome.reason}
            if record["type"] == "place":
                fields.update(order_id=outcome.order_id, location=outcome.location)
            ledger.resolved(record, outcome.phase, **fields)
            resolved += 1
    return Resolution(unknown=len(pending), resolved=resolved, unanswered=unanswered)


def _ask(record: dict[str, Any], adapter: OmsAdapter) -> Outcome:
    if record["type"] == "place":
        return adapter.order_by_key(record["key"])
    return adapter.order_cancelled(record["order_id"])
