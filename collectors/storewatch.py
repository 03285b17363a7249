"""Watching store nodes' outboxes during a run, and what a store outage cost.

A store node sells while cut off from inventory and queues its sales (store-and-
forward). ``StoreWatch`` polls each store's ``GET /outbox`` a few times a second and
appends one record per store per poll to ``stores.jsonl`` as it goes (a killed run
keeps what was seen). ``store_outages`` reads those records with the fault windows of
``events.jsonl`` and says, per ``store-offline`` window: how many units the stores
sold that the source of truth did not know yet (the drift during the outage), and how
long after the link came back the last queued sale reached inventory (time to
reconcile).

``stores.jsonl`` records: ``{"t", "store", "online", "pending", "pending_units",
"forwarded_total", "last_drained_at"}``, or ``{"t", "store", "error"}`` when the store
did not answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from collectors.jsonl import RecordError, count, maybe_unix_time, parse_jsonl, text, unix_time
from collectors.rundir import RunDir
from collectors.timeline import FaultSpan, read_timeline
from slo.conventions import STORE_OFFLINE
from slo.errors import RunDirError
from slo.runfiles import STORES_FILE

__all__ = [
    "StoreOutage",
    "StoreWatch",
    "outages",
    "parse_poll",
    "poll_outbox",
    "read_polls",
    "store_outages",
]

Poll = dict[str, Any]
"""A checked ``stores.jsonl`` record."""


_FIELDS = ("online", "pending", "pending_units", "forwarded_total", "last_drained_at")


class StoreWatch:
    """A daemon thread polling every store's outbox each ``interval_s`` until stopped."""

    def __init__(
        self, run: RunDir, store_urls: Mapping[str, str], *, interval_s: float = 0.25
    ) -> None:
        self._appender = run.appender(STORES_FILE)
        self._urls = dict(store_urls)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peakops-storewatch", daemon=True)

    def __enter__(self) -> StoreWatch:
        if self._urls:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._appender.close()

    def _run(self) -> None:
        with httpx.Client(timeout=max(self._interval_s, 0.2), trust_env=False) as client:
            while not self._stop.is_set():
                for store, url in self._urls.items():
                    self._appender.append(poll_outbox(client, store, url))
                self._stop.wait(self._interval_s)


def poll_outbox(client: httpx.Client, store: str, url: str) -> dict[str, Any]:
    """One record of ``store``'s outbox, or of why it could not be read."""
    t = time.time()
    try:
        body = client.get(f"{url}/outbox").raise_for_status().json()
    except (httpx.HTTPError, ValueError) as err:
        return {"t": t, "store": store, "error": f"{type(err).__name__}: {err}"}
    return {"t": t, "store": store, **{name: body.get(name) for name in _FIELDS}}


@dataclass(frozen=True)
class StoreOutage:
    """One ``store-offline`` window, as the stores' outboxes saw it (Unix seconds)."""

    fault_id: str
    started: float
    stopped: float | None
    peak_pending_units: int
    """Most units sold at the stores and not yet in the source of truth, at one poll."""
    queued_ops: int
    """Most queued operations (sales and returns) at one poll."""
    reconciled_at: float | None
    """When the last queued operation reached inventory after the link came back."""
    samples: int

    @property
    def reconcile_s(self) -> float | None:
        """Seconds from the link coming back to every store's outbox being empty."""
        if self.stopped is None or self.reconciled_at is None:
            return None
        return max(0.0, self.reconciled_at - self.stopped)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reconcile_s": self.reconcile_s}


def store_outages(
    events: Iterable[Mapping[str, Any]], samples: Iterable[Mapping[str, Any]]
) -> list[StoreOutage]:
    """Every ``store-offline`` window of ``events`` with what the outbox polls saw during
    and after it (records as written; a bad one raises ``RunDirError``)."""
    polls = [_checked(sample, f"poll {n}") for n, sample in enumerate(samples, start=1)]
    return outages(read_timeline(events).spans, polls)


def outages(spans: Iterable[FaultSpan], polls: Iterable[Poll]) -> list[StoreOutage]:
    """Every ``store-offline`` fault of ``spans`` with what the checked ``polls`` saw."""
    answered = sorted((p for p in polls if "error" not in p), key=lambda p: p["t"])
    return [
        _outage(span.id, span.start, span.stopped, answered)
        for span in spans
        if span.name == STORE_OFFLINE
    ]


def parse_poll(record: Mapping[str, Any], where: str = "") -> Poll:
    """One ``stores.jsonl`` record, checked (the module docstring)."""
    poll = dict(record)
    poll.update(t=unix_time(record, "t"), store=text(record, "store"))
    if "error" in record:
        poll["error"] = text(record, "error", "")
        return poll
    for name in ("pending", "pending_units"):
        poll[name] = None if record.get(name) is None else count(record, name)
    poll["last_drained_at"] = maybe_unix_time(record, "last_drained_at")
    return poll


def read_polls(run: RunDir) -> list[Poll]:
    """Every record of the run's ``stores.jsonl``, checked (``RunDirError``: file and line)."""
    return list(parse_jsonl(run.file(STORES_FILE), parse_poll))


def _checked(record: Mapping[str, Any], where: str) -> Poll:
    try:
        return parse_poll(record, where)
    except RecordError as err:
        raise RunDirError(f"{where}: {err}") from err


def _outage(fault_id: str, started: float, stopped: float | None, polls: list[Poll]) -> StoreOutage:
    latest: dict[str, Poll] = {}  # store -> its newest poll so far
    peak_units = peak_ops = seen = 0
    reconciled_at: float | None = None
    for poll in polls:
        t = poll["t"]
        latest[poll["store"]] = poll
        if t < started:
            continue
        seen += 1
        stores = list(latest.values())
        peak_units = max(peak_units, sum(int(p.get("pending_units") or 0) for p in stores))
        peak_ops = max(peak_ops, sum(int(p.get("pending") or 0) for p in stores))
        if stopped is None or t < stopped or any(p.get("pending") for p in stores):
            continue
        # nothing was queued: nothing to reconcile
        reconciled_at = _drained_at(stores, stopped, t) if peak_ops else stopped
        break
    return StoreOutage(fault_id, started, stopped, peak_units, peak_ops, reconciled_at, seen)


def _drained_at(stores: list[Poll], stopped: float, seen_empty: float) -> float:
    """When the last store emptied its outbox after the link came back: the stores' own
    drain time, or the poll that saw them empty when they do not say."""
    drained = max((float(p.get("last_drained_at") or 0.0) for p in stores), default=0.0)
    return drained if drained >= stopped else seen_empty
