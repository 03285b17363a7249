"""True tail latency on a stalling target: ``peakops load`` (open model) vs plain Locust.

The target (``stalling_server.py``, its own process) answers at once, except that it
freezes for the last second of every 5 s cycle: a request arriving at phase ``p`` in
[4, 5) is answered at 5, after ``5 - p`` seconds. Both load generators are asked for
200 requests/s for 30 s (6 whole cycles, so the phase the load starts at does not
matter):

- ours: ``peakops load --url URL --rate 200/s --duration 30s --arrivals uniform``, an
  open model timing each request from its intended start (like wrk2 ``-R``);
- plain Locust: 20 ``FastHttpUser`` x ``constant_throughput(10)``, a closed loop.

The truth, for arrivals spread uniformly over whole cycles: a request waits
``L = 5 - p`` if it arrives at phase ``p >= 4`` and ~0 otherwise, so for ``x`` in
[0, 1 s]::

    P(L > x) = P(4 <= p < 5 - x) = (1 - x) / 5 = 0.2 * (1 - x)

and the q-quantile solves ``0.2 * (1 - x) = 1 - q``: ``x = 1 - 5 * (1 - q)``, i.e.
p95 = 750 ms, p99 = 950 ms, p99.9 = 995 ms (anything below p80 is the ~1 ms service
time). The true count is 200 x 30 = 6,000 requests.

A closed loop cannot see this: while the target is frozen each Locust user waits on
its one request instead of sending the ones it was due to send, so it sends fewer
requests (the ones it would have timed at up to 1 s are never made) and its
percentiles describe the requests it did make. That is coordinated omission.

Prints ``percentile | truth | ours (error %) | plain Locust (error %)`` and sent/planned
for both. Targets: ours within +/-5 % of the truth and >= 99 % of planned arrivals sent.
A figure, not a test: nothing is asserted.

    .venv/bin/python benchmarks/coordinated_omission.py [--quick]   # --quick: 10 s
"""

from __future__ import annotations

import argparse
import json
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _harness import LocustStats, locust_command, run_bounded, sigterm_raises, spawn, stop, tail

RATE_PER_S = 200
USERS = 20  # x 10 requests/s each: plain Locust's 200/s
CYCLE_S = 5.0
FREEZE_S = 1.0
PERCENTILES = (("p95", 0.95, "p95_ms"), ("p99", 0.99, "p99_ms"), ("p99.9", 0.999, "p99.9_ms"))
TARGET_ERROR = 0.05
TARGET_SENT = 0.99
RUN_ALLOWANCE_S = 120.0  # start-up, drain and gate, on top of the load's seconds
SERVER = Path(__file__).resolve().parent / "stalling_server.py"


def truth_ms(quantile: float) -> float:
    """The q-quantile of the latency: solves ``(FREEZE - x) / CYCLE = 1 - q`` (docstring)."""
    return max(0.0, FREEZE_S - CYCLE_S * (1 - quantile)) * 1000


class StallingServer:
    """``stalling_server.py`` in its own process, for as long as the block runs."""

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.url = ""

    def __enter__(self) -> StallingServer:
        command = [sys.executable, str(SERVER), "--port", "0",
                   "--cycle", str(CYCLE_S), "--freeze", str(FREEZE_S)]  # fmt: skip
        self.child = spawn(command, stdout=subprocess.PIPE)
        try:
            line = _first_line(self.child, timeout_s=10.0)
            if not line.startswith("listening "):
                raise RuntimeError(f"stalling server did not start: {line!r}")
            self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        except BaseException:
            stop(self.child)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.child is not None:
            stop(self.child)
            if self.child.stdout is not None:
                self.child.stdout.close()


def _first_line(child: subprocess.Popen[bytes], *, timeout_s: float) -> str:
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], timeout_s)
    return child.stdout.readline().decode().strip() if ready else ""


@dataclass(frozen=True)
class Ours:
    percentiles_ms: dict[str, float]
    planned: float
    sent: int
    dropped: int
    exit_code: int
    run_dir: str


def run_ours(url: str, seconds: float, work: Path) -> Ours:
    """``peakops load`` as a user runs it; its JSON verdict parsed."""
    peakops = Path(sys.executable).with_name("peakops")
    if not peakops.exists():
        raise RuntimeError(f"{peakops} not found: run `make setup` first")
    out = work / "ours.json"
    command = [
        str(peakops), "load", "--url", f"{url}/", "--rate", f"{RATE_PER_S}/s",
        "--duration", f"{seconds:g}s", "--arrivals", "uniform", "--output", "json",
        "--run-dir", str(work / "runs"),
    ]  # fmt: skip
    print("ours: " + " ".join(["peakops", *command[1:]]), flush=True)
    with out.open("wb") as stdout, (work / "ours.log").open("wb") as stderr:
        child = spawn(command, stdout=stdout, stderr=stderr)
        try:
            code = child.wait(timeout=seconds + RUN_ALLOWANCE_S)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"peakops load overran {seconds + RUN_ALLOWANCE_S:.0f} s") from None
        finally:
            stop(child)
    if code not in (0, 1):  # 1: an SLO failed, still a measurement
        raise RuntimeError(f"peakops load exited {code}:\n{tail(work / 'ours.log')}")
    data: dict[str, Any] = json.loads(out.read_text())
    endpoint = next(e for e in data["endpoints"] if e["endpoint"] != "*")
    arrivals = data["load"]["arrivals"]
    return Ours(
        percentiles_ms={name: float(endpoint[key]) for name, _, key in PERCENTILES},
        planned=float(arrivals["planned"]),
        sent=int(arrivals["sent"]),
        dropped=int(arrivals["dropped"]),
        exit_code=code,
        run_dir=str(data.get("run_dir", "")),
    )


def run_locust(url: str, seconds: float, work: Path) -> LocustStats:
    """Plain Locust, paced to the same 200 requests/s, closed loop."""
    json_base = work / "locust-stats"
    extra = ["--bench-user-rate", str(RATE_PER_S / USERS)]
    command = locust_command(
        url, "PacedUser", users=USERS, seconds=seconds, json_base=json_base, extra=extra
    )
    print(
        f"plain Locust: locust -f benchmarks/bench_locustfile.py --headless -u {USERS} "
        f"-r {USERS} -t {seconds:g}s PacedUser (constant_throughput({RATE_PER_S / USERS:g}))",
        flush=True,
    )
    log = work / "locust.log"
    code = run_bounded(command, timeout_s=seconds + RUN_ALLOWANCE_S, log=log)
    stats_file = json_base.parent / f"{json_base.name}.json"
    if code != 0 or not stats_file.exists():
        raise RuntimeError(f"locust exited {code}:\n{tail(log)}")
    return LocustStats.read(stats_file)


def _error(value: float, truth: float) -> str:
    return f"{100 * (value - truth) / truth:+.1f} %"


def report(seconds: float, ours: Ours, locust: LocustStats) -> None:
    planned = RATE_PER_S * seconds
    cycles = seconds / CYCLE_S
    print(
        f"\n{RATE_PER_S} req/s for {seconds:g} s ({cycles:g} cycles) against a target frozen "
        f"{FREEZE_S:g} s in every {CYCLE_S:g} s; latency in ms"
    )
    rows = [("percentile", "truth", "ours (error %)", "plain Locust (error %)")]
    worst = 0.0
    for name, quantile, _ in PERCENTILES:
        truth = truth_ms(quantile)
        mine = ours.percentiles_ms[name]
        theirs = locust.percentile(quantile)
        worst = max(worst, abs(mine - truth) / truth)
        rows.append((name, f"{truth:.0f}", f"{mine:.1f} ({_error(mine, truth)})",
                     f"{theirs:.0f} ({_error(theirs, truth)})"))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print(" | ".join(cell.rjust(w) if i else cell.ljust(w)
                         for i, (cell, w) in enumerate(zip(row, widths, strict=True))))  # fmt: skip
    sent_share = ours.sent / ours.planned if ours.planned else 0.0
    print(
        f"sent/planned: ours {ours.sent:,}/{ours.planned:,.0f} ({100 * sent_share:.1f} %, "
        f"{ours.dropped:,} dropped; peakops exit {ours.exit_code}) | plain Locust "
        f"{locust.requests:,}/{planned:,.0f} ({100 * locust.requests / planned:.1f} %, "
        f"{locust.failures:,} failed)"
    )
    print(
        f"targets: ours within ±{100 * TARGET_ERROR:.0f} % of truth: "
        f"{'met' if worst <= TARGET_ERROR else 'MISSED'} (worst {100 * worst:.1f} %); "
        f"ours sent >= {100 * TARGET_SENT:.0f} % of planned: "
        f"{'met' if sent_share >= TARGET_SENT else 'MISSED'} ({100 * sent_share:.1f} %)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s (2 cycles) instead of 30 s")
    args = parser.parse_args()
    seconds = 2 * CYCLE_S if args.quick else 6 * CYCLE_S
    with sigterm_raises(), tempfile.TemporaryDirectory(prefix="peakops-co-") as tmp:
        work = Path(tmp)
        with StallingServer() as server:
            print(f"target: {server.url}, frozen the last {FREEZE_S:g} s of every {CYCLE_S:g} s")
            started = time.monotonic()
            ours = run_ours(server.url, seconds, work)
            locust = run_locust(server.url, seconds, work)
            elapsed = time.monotonic() - started
    report(seconds, ours, locust)
    print(f"(both runs took {elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("coordinated_omission: interrupted; every process it started was stopped",
              file=sys.stderr)  # fmt: skip
        sys.exit(130)
    except RuntimeError as err:
        print(f"coordinated_omission: {err}", file=sys.stderr)
        sys.exit(3)
