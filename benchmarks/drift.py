"""How fast the stock-drift checker reads a run, and that its memory follows SKUs, not ops.

Writes a synthetic run directory (ledger, stock probes, fault events) from a simulated
OMS, then times ``check_run`` over it in a fresh child process and reports operations
per second and the child's peak RSS. Generating the files is not timed, and happens
in another child so its memory does not count. The headline is 1,000,000 ops over
10,000 SKUs, checked by one process and by two workers. Then the memory claim:
250,000 and 4,000,000 ops over the same SKUs (the per-SKU state fills up to its cap,
then stops growing) and 1,000,000 ops over 2,500 SKUs.

    .venv/bin/python benchmarks/drift.py            # everything (about six minutes)
    .venv/bin/python benchmarks/drift.py --quick    # 100,000 ops over 1,000 SKUs
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from slo.runfiles import EVENTS_FILE, LEDGER_FILE, STOCK_FILE

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectors.drift import DriftConfig, check_run  # noqa: E402

CHANNELS = ("web", "app", "store", "marketplace")
LOCATIONS_PER_SKU = 2
OPS_PER_PROBE = 20  # one stock.jsonl record per 20 order operations
RATE_PER_S = 500.0  # order operations per second of simulated time
T_START = 1_795_311_000.0
TARGET_S = 10.0


@dataclass(frozen=True)
class Shape:
    ops: int
    skus: int
    seed: int = 7


class SimulatedOms:
    """A correct OMS in miniature: stock per cell, applied at the moment of the invoke."""

    def __init__(self, shape: Shape, rng: random.Random) -> None:
        self.rng = rng
        self.locations = [f"dc-{i}" for i in range(LOCATIONS_PER_SKU)]
        self.skus = [f"SKU-{i:06d}" for i in range(shape.skus)]
        per_cell = shape.ops / (shape.skus * LOCATIONS_PER_SKU)
        self.stock = {
            (sku, loc): rng.randint(int(per_cell * 0.5) + 1, int(per_cell * 1.2) + 2)
            for sku in self.skus
            for loc in self.locations
        }
        self.seen: dict[tuple[str, str], deque[tuple[float, int]]] = {}

    def set(self, cell: tuple[str, str], value: int, t: float) -> None:
        self.stock[cell] = value
        past = self.seen.get(cell)
        if past is None:
            past = self.seen[cell] = deque(maxlen=8)
        past.append((t, value))

    def view(self, cell: tuple[str, str], t: float) -> int:
        """What a channel shows: the truth as it was 50-400 ms ago."""
        lag = self.rng.uniform(0.05, 0.4)
        value = self.stock[cell]
        for when, then in reversed(self.seen.get(cell, ())):
            if when <= t - lag:
                return then
            value = then
        return value


class Writer:
    """Writes the three files, in time order per file as several processes would."""

    def __init__(self, run: Path) -> None:
        self.ledger: TextIO = (run / LEDGER_FILE).open("w")
        self.stock: TextIO = (run / STOCK_FILE).open("w")
        self.events: TextIO = (run / EVENTS_FILE).open("w")
        self.pending: list[tuple[float, int, str]] = []  # completions, by time
        self.seq = 0

    def later(self, t: float, line: str) -> None:
        heapq.heappush(self.pending, (t, self.seq, line))
        self.seq += 1

    def flush_until(self, t: float) -> None:
        while self.pending and self.pending[0][0] <= t:
            self.ledger.write(heapq.heappop(self.pending)[2])

    def close(self) -> None:
        self.flush_until(float("inf"))
        for fh in (self.ledger, self.stock, self.events):
            fh.close()


def ledger_line(t: float, op: str, kind: str, phase: str, key: str, order: str | None,
                sku: str, qty: int, loc: str | None, reason: str | None = None,
                resolved: bool = False) -> str:  # fmt: skip
    record: dict[str, Any] = {
        "t": round(t, 6), "op": op, "type": kind, "phase": phase, "key": key,
        "order_id": order, "sku": sku, "qty": qty, "location": loc, "channel": "web",
        "source": "load-0",
    }  # fmt: skip
    if reason is not None:
        record["reason"] = reason
    if resolved:
        record["resolved"] = True
    return json.dumps(record, separators=(",", ":")) + "\n"


def stock_line(t: float, kind: str, cell: tuple[str, str], channel: str | None, value: int,
               phase: str) -> str:  # fmt: skip
    truth = kind == "truth"
    record = {
        "t": round(t, 6), "t0": round(t - 0.004, 6), "kind": kind, "sku": cell[0],
        "location": cell[1], "channel": channel, "available": value,
        "on_hand": value if truth else None, "reserved": 0 if truth else None,
        "committed": 0 if truth else None, "phase": phase, "source": "probe",
    }  # fmt: skip
    return json.dumps(record, separators=(",", ":")) + "\n"


def generate(run: Path, shape: Shape) -> dict[str, int]:
    """Write a run of ``shape.ops`` operations; returns record counts."""
    rng = random.Random(shape.seed)
    oms = SimulatedOms(shape, rng)
    out = Writer(run)
    for cell, value in oms.stock.items():
        out.stock.write(stock_line(T_START - 1.0, "truth", cell, None, value, "start"))
    out.events.write(json.dumps({"ts": T_START + 10, "type": "fault_started",
                                 "fault": "kill-replica", "id": "f1"}) + "\n")  # fmt: skip
    out.events.write(json.dumps({"ts": T_START + 70, "type": "fault_stopped", "id": "f1"}) + "\n")
    orders: deque[tuple[str, str, str, int]] = deque(maxlen=5000)
    unknown: list[str] = []
    counts = {"ledger": 0, "stock": len(oms.stock)}
    t = T_START
    for i in range(shape.ops):
        t += rng.expovariate(RATE_PER_S)
        out.flush_until(t)
        one_op(out, oms, rng, t, i, orders, unknown)
        counts["ledger"] += 2
        if i % OPS_PER_PROBE == 0:
            probe(out, oms, rng, t, i)
            counts["stock"] += 1
    out.flush_until(float("inf"))
    for line in unknown:  # the end-of-run resolution
        t += 0.001
        out.ledger.write(line.replace('"t":0', f'"t":{t:.6f}', 1))
        counts["ledger"] += 1
    out.close()
    return counts


def one_op(out: Writer, oms: SimulatedOms, rng: random.Random, t: float, i: int,
           orders: deque[tuple[str, str, str, int]], unknown: list[str]) -> None:  # fmt: skip
    """One place or cancel: invoke now, its outcome after a latency."""
    done = t + rng.uniform(0.02, 0.08)
    op = f"load-0-{i}"
    if orders and rng.random() < 0.08:
        key, order, loc, qty = orders.popleft()
        sku = order.split("/")[1]
        out.ledger.write(ledger_line(t, op, "cancel", "invoke", key, order, sku, qty, loc))
        oms.set((sku, loc), oms.stock[(sku, loc)] + qty, t + 0.001)
        out.later(done, ledger_line(done, op, "cancel", "ok", key, order, sku, qty, loc))
        return
    sku = rng.choice(oms.skus)
    qty = 1 if rng.random() < 0.8 else 2
    requested = rng.choice(oms.locations) if rng.random() < 0.7 else None
    key = f"key-{i}"
    out.ledger.write(ledger_line(t, op, "place", "invoke", key, None, sku, qty, requested))
    candidates = [requested] if requested else oms.locations
    loc = max(candidates, key=lambda c: oms.stock[(sku, c)])
    if oms.stock[(sku, loc)] < qty:
        out.later(done, ledger_line(done, op, "place", "fail", key, None, sku, qty, requested,
                                    reason="out_of_stock"))  # fmt: skip
        return
    oms.set((sku, loc), oms.stock[(sku, loc)] - qty, t + 0.001)
    order = f"ord/{sku}/{i}"
    if rng.random() < 0.005:  # a timeout: outcome unknown, resolved at the end (mostly)
        out.later(done, ledger_line(done, op, "place", "info", key, None, sku, qty, requested,
                                    reason="timeout"))  # fmt: skip
        if rng.random() < 0.7:
            unknown.append(ledger_line(0, op, "place", "ok", key, order, sku, qty, loc,
                                       resolved=True))  # fmt: skip
        return
    out.later(done, ledger_line(done, op, "place", "ok", key, order, sku, qty, loc))
    orders.append((key, order, loc, qty))


def probe(out: Writer, oms: SimulatedOms, rng: random.Random, t: float, i: int) -> None:
    """One stock record: the truth of a random cell, or one channel's view of it."""
    cell = (rng.choice(oms.skus), rng.choice(oms.locations))
    at = t + 0.002
    turn = (i // OPS_PER_PROBE) % (len(CHANNELS) + 1)
    if turn == 0:
        out.stock.write(stock_line(at, "truth", cell, None, oms.stock[cell], "run"))
    else:
        channel = CHANNELS[turn - 1]
        out.stock.write(stock_line(at, "view", cell, channel, oms.view(cell, at), "run"))


# -- measuring ---------------------------------------------------------------------------


def child_check(run: Path, ops: int, workers: int, window_s: float) -> None:
    """In a fresh process: time ``check_run`` and print figures as one JSON line."""
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    report = check_run(run, DriftConfig(reorder_window_s=window_s), workers=workers)
    elapsed = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest worker
    print(json.dumps({
        "ops": ops, "workers": workers, "window_s": window_s, "elapsed_s": elapsed,
        "base_rss_kib": base_rss,
        "peak_rss_kib": own if workers == 1 else worker,
        "records": dict(report.records), "cells": report.cells,
        "truth_outside": report.truth_outside_interval,
        "views_outside": report.views_outside_interval,
        "oversell_units": report.oversell_units, "unknown_ops": report.unknown_ops,
        "converged": report.converged, "never_converged": report.never_converged,
        "lag_p99_s": report.lag_p99_s,
    }))  # fmt: skip


def run_child(*args: str) -> str:
    command = [sys.executable, __file__, *args]
    done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=1800)
    return done.stdout.strip().splitlines()[-1]


def measure(shape: Shape, variants: tuple[tuple[int, float], ...]) -> list[dict[str, Any]]:
    """Generate a run of ``shape`` (untimed), then check it once per (workers, window)."""
    results = []
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        run = Path(tmp)
        run_child("--generate", str(run), "--ops", str(shape.ops), "--skus", str(shape.skus))
        size_mb = sum(f.stat().st_size for f in run.iterdir()) / 1e6
        for count, window_s in variants:
            line = run_child("--check", str(run), "--ops", str(shape.ops),
                             "--workers", str(count), "--window", str(window_s))  # fmt: skip
            result: dict[str, Any] = json.loads(line)
            result.update(skus=shape.skus, size_mb=size_mb)
            show(result)
            results.append(result)
    return results


def show(result: dict[str, Any]) -> None:
    rate = result["ops"] / result["elapsed_s"]
    records = sum(result["records"].values())
    print(
        f"{result['ops']:>9,} ops {result['skus']:>6,} SKUs ({records:,} records, "
        f"{result['size_mb']:.0f} MB)  workers={result['workers']} window={result['window_s']:g} s:"
        f" {result['elapsed_s']:5.2f} s  "
        f"{rate:>8,.0f} ops/s  peak RSS {result['peak_rss_kib'] / 1024:5.1f} MiB"
    )
    print(
        f"    findings: truth outside {result['truth_outside']}, views outside "
        f"{result['views_outside']}, oversold {result['oversell_units']}, unknown ops "
        f"{result['unknown_ops']}, converged {result['converged']:,}, never "
        f"{result['never_converged']:,}, lag p99 {result['lag_p99_s']} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 ops over 1,000 SKUs")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--check", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ops", type=int, default=1_000_000, help=argparse.SUPPRESS)
    parser.add_argument("--skus", type=int, default=10_000, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--window", type=float, default=10.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        print(json.dumps(generate(args.generate, Shape(args.ops, args.skus))))
        return
    if args.check:
        child_check(args.check, args.ops, args.workers, args.window)
        return
    if args.quick:
        measure(Shape(100_000, 1_000), ((1, 10.0), (2, 10.0)))
        return
    headline = measure(Shape(1_000_000, 10_000), ((1, 10.0), (2, 10.0), (1, 1.0)))
    for result in headline:
        verdict = "met" if result["elapsed_s"] < TARGET_S else "MISSED"
        print(f"target (1,000,000 ops in under {TARGET_S:.0f} s), workers={result['workers']},"
              f" window {result['window_s']:g} s: {verdict}")  # fmt: skip
    default = ((1, 10.0),)
    fewer_ops = measure(Shape(250_000, 10_000), default)
    more_ops = measure(Shape(4_000_000, 10_000), default)
    fewer_skus = measure(Shape(1_000_000, 2_500), default)
    memory_table([fewer_ops[0], headline[0], more_ops[0], fewer_skus[0]])


def memory_table(results: list[dict[str, Any]]) -> None:
    """Peak RSS per shape (one process), above the bare interpreter, and the ratios.

    ``results``: 250k, 1M and 4M ops over 10k SKUs, then 1M ops over 2.5k SKUs.
    """
    print("\n      ops     SKUs   peak RSS   above interpreter + imports")
    state = [(r["peak_rss_kib"] - r["base_rss_kib"]) / 1024 for r in results]
    for result, above in zip(results, state, strict=True):
        print(f"{result['ops']:>9,}  {result['skus']:>7,}  {result['peak_rss_kib'] / 1024:6.1f} MiB"
              f"   {above:6.1f} MiB")  # fmt: skip
    print(
        f"16x the ops (250k -> 4M), same SKUs: x{state[2] / state[0]:.2f} "
        f"(1M -> 4M: x{state[2] / state[1]:.2f}); in proportion to ops would be x16 (x4)\n"
        f"4x the SKUs (2.5k -> 10k), same ops: x{state[1] / state[3]:.2f}"
    )
    print("in proportion to ops?", "NO: bounded per SKU" if state[2] / state[0] < 4 else "yes")


if __name__ == "__main__":
    main()
