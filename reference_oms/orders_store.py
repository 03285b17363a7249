"""Orders shared by every replica in one SQLite file; the idempotency key is unique.

A replica *claims* a key by inserting a `pending` row; the unique constraint decides
races between replicas. Only the claimant talks to inventory, then records the outcome.
Rows left `error` (or `pending` by a replica that died) may be claimed again: inventory
reservations are idempotent per order id, so a retry cannot apply an order twice.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from .schemas import Line
from .sqlite_util import LockedConnection

__all__ = ["STALE_PENDING_SECONDS", "NewOrder", "OrdersStore"]

STALE_PENDING_SECONDS = 15.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL, location TEXT, lines TEXT NOT NULL, status TEXT NOT NULL,
    reason TEXT, sku TEXT, version TEXT NOT NULL, replica INTEGER NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
)
"""


@dataclass(frozen=True)
class NewOrder:
    """An order as first claimed, before inventory has been asked."""

    order_id: str
    idempotency_key: str
    channel: str
    location: str | None
    lines: list[Line]
    version: str
    replica: int


def _to_json(row: Any) -> dict[str, Any]:
    order = dict(row)
    order["lines"] = json.loads(order["lines"])
    return order


class OrdersStore:
    """Claim, finish, cancel and look up orders. Methods block; run them in a thread."""

    def __init__(self, path: str) -> None:
        self._db = LockedConnection(path)
        with self._db.transaction() as conn:
            conn.execute(SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def get(self, order_id: str) -> dict[str, Any] | None:
        """The order with this id, or None."""
        with self._db.transaction("DEFERRED") as conn:
            row = conn.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        return None if row is None else _to_json(row)

    def get_by_key(self, key: str) -> dict[str, Any] | None:
        """The order with this idempotency key, or None."""
        with self._db.transaction("DEFERRED") as conn:
            row = conn.execute("SELECT * FROM orders WHERE idempotency_key = ?", (key,)).fetchone()
        return None if row is None else _to_json(row)

    def claim(self, order: NewOrder) -> tuple[bool, dict[str, Any]]:
        """Insert `order` as pending; return (claimed, the row now stored).

        An existing `error` row, or a `pending` row untouched for STALE_PENDING_SECONDS,
        is taken over; the stored location and lines win over the new request's.
        """
        now = time.time()
        lines = json.dumps([line.model_dump() for line in order.lines])
        with self._db.transaction() as conn:
            inserted = (
                conn.execute(
                    "INSERT OR IGNORE INTO orders (order_id, idempotency_key, channel, location, "
                    "lines, status, version, replica, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
                    (
                        order.order_id,
                        order.idempotency_key,
                        order.channel,
                        order.location,
                        lines,
                        order.version,
                        order.replica,
                        now,
                        now,
                    ),
                ).rowcount
                == 1
            )
            if not inserted:
                inserted = (
                    conn.execute(
                        "UPDATE orders SET status = 'pending', replica = ?, updated_at = ? "
                        "WHERE idempotency_key = ? AND (status = 'error' OR "
                        "(status = 'pending' AND updated_at < ?))",
                        (order.replica, now, order.idempotency_key, now - STALE_PENDING_SECONDS),
                    ).rowcount
                    == 1
                )
            row = conn.execute(
                "SELECT * FROM orders WHERE idempotency_key = ?", (order.idempotency_key,)
            ).fetchone()
        return inserted, _to_json(row)

    def finish(
        self, order_id: str, status: str, reason: str | None = None, sku: str | None = None
    ) -> dict[str, Any]:
        """Record a placement outcome on a pending order and return the stored order."""
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE orders SET status = ?, reason = ?, sku = ?, updated_at = ? "
                "WHERE order_id = ?",
                (status, reason, sku, time.time(), order_id),
            )
            row = conn.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        return _to_json(row)

    def cancel(self, order_id: str) -> tuple[bool, dict[str, Any]]:
        """Mark a confirmed (or error) order cancelled; return (changed, the stored order)."""
        with self._db.transaction() as conn:
            changed = (
                conn.execute(
                    "UPDATE orders SET status = 'cancelled', updated_at = ? "
                    "WHERE order_id = ? AND status IN ('confirmed', 'error')",
                    (time.time(), order_id),
                ).rowcount
                == 1
            )
            row = conn.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        return changed, _to_json(row)
