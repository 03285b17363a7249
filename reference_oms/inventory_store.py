"""The inventory source of truth: stock, reservations and the change log in one SQLite file.

Every mutation runs in one `BEGIN IMMEDIATE` transaction that also appends one row per
touched (sku, location) to `changes`; the change's rowid is the global `seq` that
subscribers resume from. All methods block, so async callers run them in a thread.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .catalog import CatalogSpec, seed_stock
from .sqlite_util import LockedConnection

__all__ = ["InventoryStore", "Outcome", "UnknownItemError"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS stock (
    sku TEXT NOT NULL, location TEXT NOT NULL,
    on_hand INTEGER NOT NULL, reserved INTEGER NOT NULL DEFAULT 0,
    committed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sku, location)
);
CREATE TABLE IF NOT EXISTS reservations (
    order_id TEXT PRIMARY KEY, location TEXT NOT NULL, lines TEXT NOT NULL,
    atomic INTEGER NOT NULL, status TEXT NOT NULL, code INTEGER NOT NULL,
    result TEXT NOT NULL, created_at REAL NOT NULL, released_at REAL
);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, sku TEXT NOT NULL, location TEXT NOT NULL,
    on_hand INTEGER NOT NULL, reserved INTEGER NOT NULL, committed INTEGER NOT NULL,
    available INTEGER NOT NULL, ts REAL NOT NULL
);
"""

COUNTS_SQL = "SELECT on_hand, reserved, committed FROM stock WHERE sku = ? AND location = ?"


class UnknownItemError(ValueError):
    """A request named a sku or location that is not in the catalog."""


@dataclass(frozen=True)
class Outcome:
    """An HTTP-shaped result: status code plus JSON body."""

    code: int
    body: dict[str, Any]


def _counts(row: sqlite3.Row) -> dict[str, int]:
    on_hand, reserved, committed = row["on_hand"], row["reserved"], row["committed"]
    return {
        "on_hand": on_hand,
        "available": on_hand - reserved - committed,
        "reserved": reserved,
        "committed": committed,
    }


def _max_seq(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0])


class InventoryStore:
    """Stock per (sku, location), idempotent reservations, and an ordered change log."""

    def __init__(self, path: str, spec: CatalogSpec) -> None:
        self._writer = LockedConnection(path)
        self._reader = LockedConnection(path)
        with self._writer.transaction() as conn:
            for statement in filter(str.strip, SCHEMA.split(";")):
                conn.execute(statement)
            if conn.execute("SELECT COUNT(*) FROM stock").fetchone()[0] == 0:
                conn.executemany(
                    "INSERT INTO stock (sku, location, on_hand) VALUES (?, ?, ?)",
                    [(sku, loc, qty) for (sku, loc), qty in seed_stock(spec).items()],
                )
            rows = conn.execute("SELECT sku, location FROM stock").fetchall()
        self.skus: list[str] = sorted({r["sku"] for r in rows})
        self.locations: list[str] = sorted({r["location"] for r in rows})
        self._sku_set = set(self.skus)

    def close(self) -> None:
        """Close both connections."""
        self._writer.close()
        self._reader.close()

    def has_sku(self, sku: str) -> bool:
        """Whether `sku` is in the catalog."""
        return sku in self._sku_set

    def stock(self, sku: str | None = None) -> tuple[dict[str, dict[str, dict[str, int]]], int]:
        """Return `{sku: {location: counts}}` (one sku or all) and the seq it is consistent with."""
        with self._reader.transaction("DEFERRED") as conn:
            if sku is None:
                rows = conn.execute("SELECT * FROM stock ORDER BY sku, location").fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM stock WHERE sku = ? ORDER BY location", (sku,)
                ).fetchall()
            seq = _max_seq(conn)
        table: dict[str, dict[str, dict[str, int]]] = {}
        for row in rows:
            table.setdefault(row["sku"], {})[row["location"]] = _counts(row)
        return table, seq

    def changes_after(self, seq: int, limit: int = 500) -> list[dict[str, Any]]:
        """Return up to `limit` change events with seq greater than `seq`, in seq order."""
        with self._reader.transaction("DEFERRED") as conn:
            rows = conn.execute(
                "SELECT seq, sku, location, available, on_hand, reserved, committed, ts "
                "FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
        return [dict(row) for row in rows]

    def reserve(
        self, order_id: str, location: str, lines: Iterable[tuple[str, int]], atomic: bool
    ) -> Outcome:
        """Place an order's stock: all-or-nothing if `atomic`, else decrement unconditionally.

        Idempotent per `order_id`: a repeat returns the stored original outcome.
        """
        wanted = Counter[str]()
        for sku, qty in lines:
            wanted[sku] += qty
        with self._writer.transaction() as conn:
            stored = conn.execute(
                "SELECT code, result FROM reservations WHERE order_id = ?", (order_id,)
            ).fetchone()
            if stored is not None:
                return Outcome(stored["code"], json.loads(stored["result"]))
            self._check_known(location, wanted)
            short = self._first_short(conn, location, wanted) if atomic else None
            if short is None:
                outcome = self._commit_lines(conn, order_id, location, wanted)
            else:
                body = {"status": "out_of_stock", "order_id": order_id, "location": location}
                outcome = Outcome(409, {**body, **short})
            self._record(conn, order_id, location, wanted, atomic, outcome)
            return outcome

    def _commit_lines(
        self, conn: sqlite3.Connection, order_id: str, location: str, wanted: Counter[str]
    ) -> Outcome:
        for sku, qty in wanted.items():
            conn.execute(
                "UPDATE stock SET committed = committed + ? WHERE sku = ? AND location = ?",
                (qty, sku, location),
            )
            self._log_change(conn, sku, location)
        lines = [{"sku": sku, "qty": qty} for sku, qty in wanted.items()]
        return Outcome(
            200,
            {
                "status": "reserved",
                "order_id": order_id,
                "location": location,
                "lines": lines,
                "seq": _max_seq(conn),
            },
        )

    def reservation(self, order_id: str) -> Outcome:
        """What inventory did with an order: ``reserved``, ``out_of_stock`` or ``released``.

        The source of truth's answer to "did this order take stock?", for an order whose
        placement the orders service could not confirm (its call to inventory timed out).
        """
        with self._reader.transaction("DEFERRED") as conn:
            row = conn.execute(
                "SELECT location, lines, status FROM reservations WHERE order_id = ?",
                (order_id,),
            ).fetchone()
        if row is None:
            return Outcome(404, {"status": "not_found", "order_id": order_id})
        body = {
            "order_id": order_id,
            "status": row["status"],
            "location": row["location"],
            "lines": json.loads(row["lines"]),
        }
        return Outcome(200, body)

    def release(self, order_id: str) -> Outcome:
        """Give a reserved order's committed units back to available; idempotent."""
        with self._writer.transaction() as conn:
            row = conn.execute(
                "SELECT location, lines, status FROM reservations WHERE order_id = ?",
                (order_id,),
            ).fetchone()
            if row is None:
                return Outcome(404, {"status": "not_found", "order_id": order_id})
            if row["status"] == "out_of_stock":
                return Outcome(
                    409,
                    {
                        "status": "out_of_stock",
                        "order_id": order_id,
                        "detail": "nothing was reserved for this order",
                    },
                )
            if row["status"] == "reserved":
                for sku, qty in json.loads(row["lines"]).items():
                    conn.execute(
                        "UPDATE stock SET committed = committed - ? WHERE sku = ? AND location = ?",
                        (qty, sku, row["location"]),
                    )
                    self._log_change(conn, sku, row["location"])
                conn.execute(
                    "UPDATE reservations SET status = 'released', released_at = ? "
                    "WHERE order_id = ?",
                    (time.time(), order_id),
                )
            return Outcome(200, {"status": "released", "order_id": order_id, "seq": _max_seq(conn)})

    def _check_known(self, location: str, wanted: Counter[str]) -> None:
        if location not in self.locations:
            raise UnknownItemError(f"unknown location {location!r}")
        for sku in wanted:
            if sku not in self._sku_set:
                raise UnknownItemError(f"unknown sku {sku!r}")

    @staticmethod
    def _first_short(
        conn: sqlite3.Connection, location: str, wanted: Counter[str]
    ) -> dict[str, Any] | None:
        for sku, qty in wanted.items():
            counts = _counts(conn.execute(COUNTS_SQL, (sku, location)).fetchone())
            if counts["available"] < qty:
                return {"sku": sku, "available": counts["available"], "requested": qty}
        return None

    @staticmethod
    def _log_change(conn: sqlite3.Connection, sku: str, location: str) -> None:
        counts = _counts(conn.execute(COUNTS_SQL, (sku, location)).fetchone())
        conn.execute(
            "INSERT INTO changes (sku, location, on_hand, reserved, committed, available, ts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                sku,
                location,
                counts["on_hand"],
                counts["reserved"],
                counts["committed"],
                counts["available"],
                time.time(),
            ),
        )

    @staticmethod
    def _record(
        conn: sqlite3.Connection,
        order_id: str,
        location: str,
        wanted: Counter[str],
        atomic: bool,
        outcome: Outcome,
    ) -> None:
        conn.execute(
            "INSERT INTO reservations (order_id, location, lines, atomic, status, code, "
            "result, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                order_id,
                location,
                json.dumps(dict(wanted)),
                int(atomic),
                outcome.body["status"],
                outcome.code,
                json.dumps(outcome.body),
                time.time(),
            ),
        )
