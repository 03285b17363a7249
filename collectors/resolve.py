"""End of run: ask the OMS what became of operations whose outcome was unknown.

Streams the ledger once, keeping only operations still open (no completion, or an
``info`` one), then asks the adapter about each: a place by its idempotency key, a
cancel by its order. Answers are appended to the ledger as ``resolved`` records;
what the OMS cannot answer stays unknown, and the checker widens for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from collectors.adapter import OmsAdapter, Outcome
from collectors.ledger import Ledger

__all__ = ["Resolution", "open_operations", "resolve_unknown"]


@dataclass(frozen=True)
class Resolution:
    unknown: int
    resolved: int


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
    """Resolve what can be resolved; returns how many were open and how many resolved."""
    pending = open_operations(records)
    resolved = 0
    for record in pending:
        try:
            outcome = _ask(record, adapter)
        except Exception:  # the OMS cannot answer now: the op stays unknown
            continue
        if outcome.phase in ("ok", "fail"):
            fields: dict[str, Any] = {"reason": outcome.reason}
            if record["type"] == "place":
                fields.update(order_id=outcome.order_id, location=outcome.location)
            ledger.resolved(record, outcome.phase, **fields)
            resolved += 1
    return Resolution(unknown=len(pending), resolved=resolved)


def _ask(record: dict[str, Any], adapter: OmsAdapter) -> Outcome:
    if record["type"] == "place":
        return adapter.order_by_key(record["key"])
    return adapter.order_cancelled(record["order_id"])
