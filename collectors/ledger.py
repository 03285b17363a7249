"""The order ledger: every order operation the load makes, as it happens.

Each operation is written twice: an ``invoke`` record when it is sent, then one
completion: ``ok`` (applied), ``fail`` (refused, not applied) or ``info`` (outcome
unknown: timeout, reset, 5xx after send). Records go to ``ledger.jsonl`` the moment
they happen, so a killed run keeps its history; the drift checker reads it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Ledger", "OpHandle"]


Sink = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class OpHandle:
    """An invoked operation, to complete later."""

    op: str
    type: str
    fields: dict[str, Any]


class Ledger:
    """Writes invoke/complete records for order operations (one process's share)."""

    def __init__(self, sink: Sink, *, source: str, clock: Callable[[], float] = time.time) -> None:
        self._sink = sink
        self._source = source
        self._clock = clock
        self._ids = itertools.count(1)

    def invoke(self, type_: str, **fields: Any) -> OpHandle:
        """Record that ``type_`` (``place`` or ``cancel``) is being sent now."""
        handle = OpHandle(f"{self._source}-{next(self._ids)}", type_, fields)
        self._write(handle, "invoke", fields)
        return handle

    def complete(self, handle: OpHandle, phase: str, **fields: Any) -> None:
        """Record the outcome: ``ok``, ``fail`` or ``info``; ``fields`` add what was learnt."""
        self._write(handle, phase, {**handle.fields, **fields})

    def resolved(self, record: dict[str, Any], phase: str, **fields: Any) -> None:
        """Record the end-of-run resolution of an unknown operation (a ledger record)."""
        self._sink({**record, **fields, "t": self._clock(), "phase": phase, "resolved": True})

    def _write(self, handle: OpHandle, phase: str, fields: dict[str, Any]) -> None:
        self._sink(
            {
                **fields,
                "t": self._clock(),
                "op": handle.op,
                "type": handle.type,
                "phase": phase,
                "source": self._source,
            }
        )
