"""Why requests failed, counted per load process, each kind logged once.

A target that refuses every connection fails thousands of requests a second: logging
each one buried the load log under a megabyte of identical tracebacks. Here the first
failure of each kind is logged (with its traceback when it was an exception) and the
rest are only counted; ``summary()`` gives the counts for the end of the run. The
per-interval counts that the gate reads go into the latency records (the recorder's
``errors``), not through this.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["ErrorTally", "failure_kind"]

LOGGER = "peakops.load"


def failure_kind(error: BaseException | None, status: int) -> str:
    """What a failed request is counted under: the exception's type, else ``HTTP <status>``."""
    if error is not None and status == 0:
        return type(error).__name__
    return f"HTTP {status}" if status else "no answer"


class ErrorTally:
    """Counts failures by kind; logs the first of each kind (not thread-safe: one
    process's greenlets share it on one thread)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.counts: dict[str, int] = {}
        self._log = logger if logger is not None else logging.getLogger(LOGGER)

    def count(
        self, kind: str, where: str, error: BaseException | None = None, *, raised: bool = True
    ) -> None:
        """Count one failure of ``kind`` at ``where`` (an endpoint, or ``journey``).

        ``raised``: ``error`` was raised through our code (its first occurrence is logged
        with the traceback); false for a transport error the HTTP client caught and
        reported, whose traceback is the client's own (logged as one line).
        """
        seen = self.counts.get(kind, 0)
        self.counts[kind] = seen + 1
        if seen:
            return
        if error is None:
            self._log.warning("%s failed: %s (first; later ones are only counted)", where, kind)
            return
        self._log.warning(
            "%s failed: %s: %s (first; later ones are only counted)", where, kind, error,
            exc_info=error if raised else None,
        )  # fmt: skip

    def summary(self) -> str | None:
        """One line with every kind's count (most frequent first), or None if none failed."""
        if not self.counts:
            return None
        ranked = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        return "request failures in this process: " + ", ".join(f"{k} x {n}" for k, n in ranked)

    def guard(self, journey: Callable[..., object]) -> Callable[..., None]:
        """``journey`` that never raises: anything it raises is counted and logged once.

        Requests already count their own failures (``JourneyRunner``); what reaches
        here was raised outside any request (a bug of ours), and must neither kill the
        greenlet with a traceback per journey nor go unseen.
        """

        def guarded(*args: Any) -> None:
            try:
                journey(*args)
            except Exception as err:
                self.count(f"{type(err).__name__} outside a request", "journey", err)

        return guarded
