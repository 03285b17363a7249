"""A store node's durable state in one SQLite file: its sales and the outbox owed to inventory.

A sale decided while the store is offline is written together with its `reserve` op in
one transaction, so a crash can never keep one without the other; pending ops survive
a restart and are forwarded in `seq` order. All methods block; run them in a thread.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .schemas import Line
from .sqlite_util import LockedConnection

__all__ = ["OpKind", "OutboxOp", "StoreDb", "StoreSale", "units_of"]

OpKind = Literal["reserve", "release"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL, location TEXT NOT NULL, lines TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT, sku TEXT, forwarded INTEGER NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, order_id TEXT NOT NULL,
    location TEXT NOT NULL, lines TEXT NOT NULL, queued_at REAL NOT NULL
);
"""


def units_of(lines: Sequence[Line]) -> Counter[str]:
    """Units per sku (an order may name a sku on several lines)."""
    units = Counter[str]()
    for line in lines:
        units[line.sku] += line.qty
    return units


def _lines_json(lines: Sequence[Line]) -> str:
    return json.dumps([line.model_dump() for line in lines])


@dataclass(frozen=True)
class OutboxOp:
    """One call owed to inventory, in the order it must be made.

    `lines` are the units the op moves in the store's local availability: taken by a
    `reserve`, given back by a `release`. A release whose outcome at inventory is
    uncertain carries no lines, so it never makes local stock look bigger than it is.
    """

    seq: int
    kind: OpKind
    order_id: str
    location: str
    lines: list[Line]
    queued_at: float

    @property
    def adjustment(self) -> dict[str, int]:
        """Signed units this op adds to local availability until inventory shows it."""
        sign = -1 if self.kind == "reserve" else 1
        return {sku: sign * qty for sku, qty in units_of(self.lines).items()}


@dataclass(frozen=True)
class StoreSale:
    """A sale as decided (online by inventory, offline locally), before it is stored."""

    order_id: str
    idempotency_key: str
    channel: str
    location: str
    lines: list[Line]
    status: Literal["confirmed", "rejected"]
    forwarded: bool
    reason: str | None = None
    sku: str | None = None


def _order(row: sqlite3.Row) -> dict[str, Any]:
    order = dict(row)
    order["lines"] = json.loads(order["lines"])
    order["forwarded"] = bool(order["forwarded"])
    return order


def _op(row: sqlite3.Row) -> OutboxOp:
    lines = [Line.model_validate(line) for line in json.loads(row["lines"])]
    return OutboxOp(
        row["seq"], row["kind"], row["order_id"], row["location"], lines, row["queued_at"]
    )


class StoreDb:
    """Sales by order id and idempotency key, and the outbox in seq order."""

    def __init__(self, path: str) -> None:
        self._db = LockedConnection(path)
        with self._db.transaction() as conn:
            for statement in filter(str.strip, SCHEMA.split(";")):
                conn.execute(statement)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def get(self, order_id: str) -> dict[str, Any] | None:
        """The sale with this order id, or None."""
        with self._db.transaction("DEFERRED") as conn:
            row = conn.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        return None if row is None else _order(row)

    def get_by_key(self, key: str) -> dict[str, Any] | None:
        """The sale with this idempotency key, or None."""
        with self._db.transaction("DEFERRED") as conn:
            row = conn.execute("SELECT * FROM orders WHERE idempotency_key = ?", (key,)).fetchone()
        return None if row is None else _order(row)

    def pending_ops(self) -> list[OutboxOp]:
        """Every op not yet acknowledged by inventory, oldest first."""
        with self._db.transaction("DEFERRED") as conn:
            rows = conn.execute("SELECT * FROM outbox ORDER BY seq").fetchall()
        return [_op(row) for row in rows]

    def record(
        self, sale: StoreSale, queue: tuple[OpKind, Sequence[Line]] | None = None
    ) -> tuple[bool, dict[str, Any], OutboxOp | None]:
        """Store `sale` and, if it is new, queue `(kind, lines)` for it in the same transaction.

        Returns (inserted, the stored sale, the queued op). A sale already stored under
        the key wins, and nothing is queued.
        """
        now = time.time()
        with self._db.transaction() as conn:
            inserted = (
                conn.execute(
                    "INSERT OR IGNORE INTO orders (order_id, idempotency_key, channel, location, "
                    "lines, status, reason, sku, forwarded, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        sale.order_id,
                        sale.idempotency_key,
                        sale.channel,
                        sale.location,
                        _lines_json(sale.lines),
                        sale.status,
                        sale.reason,
                        sale.sku,
                        int(sale.forwarded),
                        now,
                        now,
                    ),
                ).rowcount
                == 1
            )
            op = None
            if inserted and queue is not None:
                op = self._queue(conn, queue[0], sale.order_id, sale.location, queue[1], now)
            row = conn.execute(
                "SELECT * FROM orders WHERE idempotency_key = ?", (sale.idempotency_key,)
            ).fetchone()
        return inserted, _order(row), op

    def cancel(
        self,
        order_id: str,
        drop: OutboxOp | None = None,
        release: Sequence[Line] | None = None,
    ) -> tuple[bool, OutboxOp | None]:
        """Mark a confirmed sale cancelled; in the same transaction drop its queued
        `reserve` op (`drop`) or queue a `release` op giving back `release` units.

        Returns (changed, the queued release op); nothing else happens unless the sale
        was still confirmed.
        """
        now = time.time()
        with self._db.transaction() as conn:
            changed = (
                conn.execute(
                    "UPDATE orders SET status = 'cancelled', updated_at = ? "
                    "WHERE order_id = ? AND status = 'confirmed'",
                    (now, order_id),
                ).rowcount
                == 1
            )
            if not changed:
                return False, None
            if drop is not None:
                conn.execute("DELETE FROM outbox WHERE seq = ?", (drop.seq,))
            if release is None:
                return True, None
            location = conn.execute(
                "SELECT location FROM orders WHERE order_id = ?", (order_id,)
            ).fetchone()["location"]
            return True, self._queue(conn, "release", order_id, location, release, now)

    def acknowledge(self, op: OutboxOp) -> None:
        """Inventory has the op: remove it; a forwarded `reserve` marks its sale forwarded."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM outbox WHERE seq = ?", (op.seq,))
            if op.kind == "reserve":
                conn.execute(
                    "UPDATE orders SET forwarded = 1, updated_at = ? WHERE order_id = ?",
                    (time.time(), op.order_id),
                )

    @staticmethod
    def _queue(
        conn: sqlite3.Connection,
        kind: OpKind,
        order_id: str,
        location: str,
        lines: Sequence[Line],
        now: float,
    ) -> OutboxOp:
        cursor = conn.execute(
            "INSERT INTO outbox (kind, order_id, location, lines, queued_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (kind, order_id, location, _lines_json(lines), now),
        )
        assert cursor.lastrowid is not None
        return OutboxOp(cursor.lastrowid, kind, order_id, location, list(lines), now)
