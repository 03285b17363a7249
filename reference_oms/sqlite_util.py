"""Opening SQLite connections the way every reference OMS database needs them (WAL, busy wait)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["LockedConnection", "open_connection"]

BUSY_TIMEOUT_MS = 10_000


def open_connection(path: str) -> sqlite3.Connection:
    """Open `path` in autocommit mode with WAL journaling and a generous busy timeout.

    Autocommit (`isolation_level=None`) lets callers issue their own `BEGIN IMMEDIATE`,
    so write transactions take the write lock up front instead of failing on upgrade.
    """
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _enable_wal(conn)
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _enable_wal(conn: sqlite3.Connection) -> None:
    # Switching a new file to WAL needs an exclusive lock and ignores busy_timeout, so
    # replicas starting together on one file retry here instead of failing.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class LockedConnection:
    """A connection shared by threadpool workers; one thread uses it at a time."""

    def __init__(self, path: str) -> None:
        self._conn = open_connection(path)
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """Run the body inside `BEGIN <mode>`; commit on success, roll back on any error."""
        with self._lock:
            self._conn.execute(f"BEGIN {mode}")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close the underlying connection (waits for any thread using it)."""
        with self._lock:
            self._conn.close()
