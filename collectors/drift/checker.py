"""The stock-drift checker: does the stock every channel showed match the orders acked?

Modelled on Jepsen's history checkers. ``check_run`` reads a run directory's
``ledger.jsonl`` (every order operation: invoke → ok / fail / info), ``stock.jsonl``
(truth and channel-view observations) and ``events.jsonl`` (fault windows) in one
time-ordered pass and returns a ``DriftReport`` (``drift.json``). Per SKU x location
the expected available stock is an interval (acknowledged operations give the point,
unknown ones widen it); the report says how often the truth and each channel left it,
oversold units, false sold-outs, conservation breaks, duplicates, convergence lag, and
the fault windows active at each violation. Memory grows with SKUs, not operations.
See docs/drift.md.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import pickle
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from collectors.drift.faults import Faults
from collectors.drift.model import DriftConfig, Op, Sku
from collectors.drift.observe import Observer
from collectors.drift.ops import OpTracker
from collectors.drift.report import DriftReport, Violation, ViolationLog
from collectors.drift.stream import STREAMS, Entry, Source, merge_batches
from collectors.drift.tally import DriftTally
from slo.errors import InfraError, RunDirError
from slo.runfiles import EVENTS_FILE, LEDGER_FILE, STOCK_FILE

__all__ = [
    "DriftChecker",
    "DriftConfig",
    "DriftReport",
    "Violation",
    "check_run",
    "check_share",
]

FILES = {"ledger": LEDGER_FILE, "stock": STOCK_FILE, "events": EVENTS_FILE}

Record = dict[str, Any]


class DriftChecker:
    """Feed records of the three streams in time order, then ask for the report.

    ``report()`` ends the history: operations still in flight become unknown and
    waiting observations are judged; feeding afterwards is an error.
    """

    def __init__(self, config: DriftConfig = DriftConfig()) -> None:  # noqa: B008 (frozen)
        self.config = config
        self._skus: dict[str, Sku] = {}
        self._log = ViolationLog(config.keep_violations)
        self._faults = Faults(config.fault_recovery_s)
        flying: dict[str, Op] = {}  # operations in flight, which observations wait for
        self._observer = Observer(config, self._skus, self._log, self._faults, flying)
        self._ops = OpTracker(
            config, self._skus, self._log, self._faults, self._observer.settle, flying
        )
        self._handlers: dict[str, Callable[[Record], None]] = {
            "ledger": self._ops.ledger,
            "stock": self._observer.stock,
            "events": self._faults.event,
        }
        self._report: DriftReport | None = None

    def feed(self, stream: str, record: Record) -> None:
        """Take one record of ``stream`` (``ledger``, ``stock`` or ``events``)."""
        self.handler(stream)(record)

    def handler(self, stream: str) -> Callable[[Record], None]:
        """The function ``feed`` calls for ``stream`` (to skip the dispatch on a hot loop)."""
        if self._report is not None:
            raise RuntimeError("the drift checker has already reported")
        handler = self._handlers.get(stream)
        if handler is None:
            raise ValueError(f"unknown stream {stream!r} (expected one of {sorted(STREAMS)})")
        return handler

    def report(self) -> DriftReport:
        """End the history and report (the same report on every later call)."""
        if self._report is None:
            self._ops.finish()
            self._observer.finish()
            self._report = self.tally().report(self.config)
        return self._report

    def tally(self) -> DriftTally:
        """The raw figures so far (mergeable with another share's; see ``drift_tally``)."""
        obs, ops = self._observer, self._ops
        cells = [cell for sku in self._skus.values() for cell in sku.cells.values()]
        return DriftTally(
            violations=self._log,
            truth_observations=obs.truth_observations,
            truth_outside=obs.truth_outside,
            truth_drift_min=obs.truth_drift_min,
            truth_drift_max=obs.truth_drift_max,
            view_observations=obs.view_observations,
            views_outside=obs.views_outside,
            unjudged=obs.unjudged,
            channels=obs.channels,
            oversell_units=sum(cell.oversold for cell in cells),
            negative=obs.negative,
            place_invokes=ops.place_invokes,
            sold_out=ops.sold_out,
            false_sold_out=ops.false_sold_out,
            conservation_checked=obs.conservation_checked,
            conservation_broken=obs.conservation_broken,
            duplicates=ops.duplicates,
            duplicate_applications=ops.duplicate_applications,
            duplicate_examples=list(ops.duplicate_examples),
            unknown={kind: dict(counts) for kind, counts in ops.unknown.items()},
            records={"ledger": ops.records, "stock": obs.records, "events": self._faults.records},
            skipped=ops.skipped,
            cells=len(cells),
        )


def check_run(
    path: Path,
    config: DriftConfig = DriftConfig(),  # noqa: B008 (frozen)
    *,
    workers: int = 1,
    isolated: bool = False,
) -> DriftReport:
    """Check the history of the run directory ``path`` (missing files are empty).

    ``workers`` > 1 splits the SKUs between that many child processes (each reads
    every file and checks its share; see ``drift_worker``): the same figures, in less
    time on as many cores. Worth it for a large run only: a child takes ~0.3 s to start.
    ``isolated``: check in a child process even with one worker, so a caller that must
    stay responsive (the load generator's event loop) only waits on a pipe.
    """
    if workers <= 1 and not isolated:
        return _reported(path, check_share(path, config, 0, 1), config)
    shares = _run_workers(path, config, max(1, workers))
    total = shares[0]
    for share in shares[1:]:
        total.merge(share)
    return _reported(path, total, config)


def _reported(path: Path, tally: DriftTally, config: DriftConfig) -> DriftReport:
    try:
        return tally.report(config)
    except _BAD_DATA as err:
        raise _mismatched(path, err) from err


def _mismatched(path: Path, err: Exception) -> RunDirError:
    """Records whose values do not go together (a channel named by a number beside one
    named by text) fail only when the report sorts them: no line to name."""
    where = f"{path / LEDGER_FILE} or {path / STOCK_FILE}"
    return RunDirError(f"{where}: records that do not go together: {_describe(err)}")


def check_share(path: Path, config: DriftConfig, index: int, count: int) -> DriftTally:
    """The tally of the SKUs whose name hashes to ``index`` of ``count`` (all: 0 of 1)."""
    with _no_cyclic_gc():
        return _check(path, config, _share(index, count) if count > 1 else None)


def _run_workers(path: Path, config: DriftConfig, count: int) -> list[DriftTally]:
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    settings = json.dumps(asdict(config))
    command = [sys.executable, "-m", "collectors.drift.worker", str(path)]
    children = [
        subprocess.Popen(
            [*command, str(i), str(count), settings],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for i in range(count)
    ]
    try:
        return [_collect(child) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def _collect(child: subprocess.Popen[bytes]) -> DriftTally:
    out, err = child.communicate()
    if child.returncode == 0:
        tally = pickle.loads(out)  # from our own child: trusted
        if isinstance(tally, DriftTally):
            return tally
    message = err.decode(errors="replace").strip()
    if child.returncode == 2:
        raise RunDirError(message)
    raise InfraError(f"drift worker exited with code {child.returncode}: {message[-500:]}")


def _share(index: int, count: int) -> Callable[[Record], bool]:
    """Does a record belong to share ``index``? (A stable hash: the same in every process.)"""
    shares: dict[Any, int] = {}

    def mine(record: Record) -> bool:
        sku = record.get("sku")
        share = shares.get(sku)
        if share is None:
            share = shares[sku] = zlib.crc32(str(sku).encode()) % count
        return share == index

    return mine


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for one pass (restored after).

    A pass allocates a few objects per record that reference counting frees; the
    records waiting in the reorder window survive long enough to be promoted, and
    the collector's repeated scans of them cost about a quarter of the pass. The
    checker builds no per-record reference cycles, so nothing accumulates.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _check(path: Path, config: DriftConfig, keep: Callable[[Record], bool] | None) -> DriftTally:
    """One pass over the files (``keep``: the ledger and stock records to check)."""
    checker = DriftChecker(config)
    sources = [
        Source.file(stream, path / name, keep=None if stream == "events" else keep)
        for stream, name in FILES.items()
    ]
    handlers = {stream: checker.handler(stream) for stream in FILES}
    entry: Entry | None = None
    try:
        for batch in merge_batches(sources, config.reorder_window_s):
            for entry in batch:
                handlers[entry[3]](entry[4])
    except _BAD_DATA as err:  # a field missing or of the wrong type: "qty": "x", "t": null
        if entry is None:
            raise
        where = f"{entry[5]}:{entry[6]}"
        raise RunDirError(f"{where}: bad {entry[3]} record: {_describe(err)}") from err
    try:
        checker.report()
    except _BAD_DATA as err:
        raise _mismatched(path, err) from err
    return checker.tally()


_BAD_DATA = (KeyError, TypeError, ValueError, AttributeError, ArithmeticError)
"""What a record of the wrong shape raises in the checker (an inf quantity: Overflow)."""


def _describe(err: Exception) -> str:
    if isinstance(err, KeyError):
        return f"missing field {err.args[0]!r}"
    return str(err)
