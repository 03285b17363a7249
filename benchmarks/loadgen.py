"""Cost of peakops' instrumentation on the load generator: our request path vs bare Locust.

One Locust process (one core) GETs a tiny static 200 from nginx on 127.0.0.1 as fast
as it can: 32 users, no wait time, a closed loop at full speed. nginx answers in a few
microseconds on the other core, so the load generator is the bottleneck and its
requests per second are the figure: anything our request path costs shows as lost
throughput. The driver prints the CPU of both processes to show it.

Arms (``benchmarks/bench_locustfile.py``), interleaved so drift hits them alike
(A B C in odd rounds, C B A in even ones), each round a fresh Locust process:

- ``bare``: ``FastHttpUser`` doing ``self.client.get("/")``;
- ``ours``: the production path at the plan's default trace sample ratio (0.1): a
  real run directory and plan, ``LoadSession`` (HDR interval recorder, load meter,
  live metrics server, tracer exporting to the run's ``traces.jsonl``), a
  ``JourneyRunner`` per user running the ``url`` scenario, flushed every 0.25 s;
- ``ours (trace 1.0)``: the same with ``trace_sample_ratio=1.0``.

``--breakdown`` adds the steps in between, to show where the time goes: bare plus
``name=`` and ``catch_response``; plus our three headers; our path without a tracer;
our path with a tracer that samples nothing (every request still gets a span and a
``traceparent``).

Prints each round, the median requests/s of each arm, the cost per request over bare
in microseconds, and the ratios, e.g. ``ratio instrumented/bare = 0.93 (target >= 0.90)``.
For ours it also checks the run directory: requests recorded in ``latency.jsonl`` and
spans in ``traces.jsonl``. Then (unless ``--no-orders``) the capacity a user plans
with: rounds of the default journey mix (``ShopperUser``) against ``stub_oms.py``, an
OMS that answers at once, and the median **orders per minute per core** (orders
confirmed per CPU-minute of the Locust process). A figure, not a test: nothing is
asserted.

    .venv/bin/python benchmarks/loadgen.py [--quick] [--breakdown] [--users 32]
        [--rounds 5] [--seconds 10] [--trace-sample-ratio 0.1] [--no-orders]
        [--stub-latency-ms 0]

Needs nginx (``apt-get install -y nginx-light``); this script starts its own, with a
temporary config on a free port of 127.0.0.1, and stops it at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from _harness import (
    ListeningServer,
    LocustStats,
    locust_command,
    run_bounded,
    sigterm_raises,
    tail,
)
from _nginx import Nginx, find_nginx

from collectors.jsonl import read_jsonl

TARGET_RATIO = 0.90
SATURATED_TARGET_PERCENT = 80.0
STARTUP_ALLOWANCE_S = 60.0  # Locust's start and stop, on top of the round's seconds
STUB = Path(__file__).resolve().parent / "stub_oms.py"


@dataclass(frozen=True)
class Arm:
    label: str
    user_class: str
    options: tuple[str, ...] = ()  # bench_locustfile options
    ours: bool = False  # records into a run directory


BARE = Arm("bare", "BareUser")
ALL_TRACED = Arm("ours (trace 1.0)", "InstrumentedUser", ("--bench-trace-ratio", "1.0"), True)
# --breakdown: from bare Locust to our path, one step at a time.
CATCH = Arm("+ name=, catch_response", "CatchUser")
HEADERS = Arm("+ our 3 headers", "HeadersUser")
NO_TRACER = Arm("ours, no tracer", "InstrumentedUser", ("--bench-no-tracer",), True)
TRACE_0 = Arm("ours (trace 0)", "InstrumentedUser", ("--bench-trace-ratio", "0.0"), True)
# The capacity figure: the default journey mix against the instant stub OMS.
SHOPPERS = Arm("shoppers", "ShopperUser", (), True)


class Target(Protocol):
    """What a round runs against: nginx or the stub OMS."""

    @property
    def url(self) -> str: ...

    def pids(self) -> list[int]: ...


def ours_arm(ratio: float) -> Arm:
    return Arm(f"ours (trace {ratio:g})", "InstrumentedUser",
               ("--bench-trace-ratio", str(ratio)), True)  # fmt: skip


@dataclass(frozen=True)
class Round:
    stats: LocustStats
    locust_cpu_percent: float
    target_cpu_percent: float
    recorded: int | None  # requests in the run's latency.jsonl (ours only)
    spans: int | None  # spans in the run's traces.jsonl (ours only)
    orders: int = 0  # orders confirmed (shoppers only)
    journeys: int = 0
    wall_s: float = 0.0  # test start to test stop
    cpu_s: float = 0.0  # the Locust process's CPU in that window

    @property
    def rps(self) -> float:
        return self.stats.ok / self.stats.seconds

    @property
    def orders_per_min_per_core(self) -> float:
        """Orders confirmed per minute of one fully busy core (the Locust process's CPU)."""
        return self.orders / max(self.cpu_s, 1e-9) * 60


def run_round(arm: Arm, target: Target, *, users: int, seconds: float, work: Path,
              tag: str) -> Round:  # fmt: skip
    """One fresh Locust process running ``arm`` for ``seconds``."""
    json_base = work / f"{tag}-stats"
    cpu_file = work / f"{tag}-cpu.json"
    extra = ["--bench-cpu-file", str(cpu_file),
             "--bench-target-pids", ",".join(map(str, target.pids())), *arm.options]  # fmt: skip
    if arm.ours:
        extra += ["--bench-run-root", str(work / f"{tag}-runs")]
    log = work / f"{tag}-locust.log"
    command = locust_command(
        target.url, arm.user_class, users=users, seconds=seconds, json_base=json_base, extra=extra
    )
    code = run_bounded(command, timeout_s=seconds + STARTUP_ALLOWANCE_S, log=log)
    stats_file = json_base.parent / f"{json_base.name}.json"  # Locust appends .json
    if code != 0 or not stats_file.exists() or not cpu_file.exists():
        raise RuntimeError(f"locust ({arm.label}) exited with code {code}:\n{tail(log)}")
    window = json.loads(cpu_file.read_text())
    recorded = spans = None
    if window.get("run_dir"):
        recorded, spans = _run_dir_counts(Path(window["run_dir"]))
    return Round(
        stats=LocustStats.read(stats_file),
        locust_cpu_percent=100 * window["cpu_s"] / window["wall_s"],
        target_cpu_percent=100 * window["target_cpu_s"] / window["wall_s"],
        recorded=recorded,
        spans=spans,
        orders=int(window.get("orders") or 0),
        journeys=int(window.get("journeys") or 0),
        wall_s=float(window["wall_s"]),
        cpu_s=float(window["cpu_s"]),
    )


def _run_dir_counts(run_dir: Path) -> tuple[int, int]:
    """Requests recorded in latency.jsonl and spans exported to traces.jsonl."""
    recorded = sum(int(r["ok"]) + int(r["fail"]) for r in read_jsonl(run_dir / "latency.jsonl"))
    spans = 0
    for batch in read_jsonl(run_dir / "traces.jsonl"):
        for resource in batch.get("resourceSpans", ()):
            for scope in resource.get("scopeSpans", ()):
                spans += len(scope.get("spans", ()))
    return recorded, spans


def describe(arm: Arm, result: Round) -> str:
    s = result.stats
    text = (
        f"{arm.label:<24} {s.ok:>8,} req / {s.seconds:5.2f} s = {result.rps:7,.0f} req/s"
        f"  (Locust CPU {result.locust_cpu_percent:3.0f} %, nginx CPU "
        f"{result.target_cpu_percent:3.0f} %"
    )
    if s.failures:
        text += f", {s.failures:,} FAILED"
    if result.recorded is not None:
        text += f"; recorded {result.recorded:,}, spans {result.spans:,}"
    return text + ")"


def main() -> int:
    args = _arguments()
    rounds = args.rounds or (2 if args.quick else 3 if args.breakdown else 5)
    seconds = args.seconds or (5.0 if args.quick else 10.0)
    binary = find_nginx()
    if binary is None:
        print(
            "loadgen: nginx is not installed; it is the fast target this benchmark needs.\n"
            "install it with: sudo apt-get install -y nginx-light   (or: nginx)",
            file=sys.stderr,
        )
        return 2
    ours = ours_arm(args.trace_sample_ratio)
    if args.breakdown:
        arms = [BARE, CATCH, HEADERS, NO_TRACER, TRACE_0, ours, ALL_TRACED]
    else:
        arms = [BARE, ours, ALL_TRACED]
    results: dict[str, list[Round]] = {arm.label: [] for arm in arms}
    shoppers: list[Round] = []
    with sigterm_raises(), tempfile.TemporaryDirectory(prefix="peakops-loadgen-") as tmp:
        work = Path(tmp)
        with Nginx(binary, work / "nginx") as nginx:
            print(
                f"target: {nginx.version} on {nginx.url} (1 worker), a {nginx.body_bytes}-byte "
                f"static 200; load: one Locust process, {args.users} users, no wait time; "
                f"{rounds} rounds x {seconds:g} s per arm; {os.cpu_count()} CPUs",
                flush=True,
            )
            for number in range(rounds):
                order = arms if number % 2 == 0 else arms[::-1]
                for arm in order:
                    tag = f"r{number + 1}-{arms.index(arm)}"
                    result = run_round(
                        arm, nginx, users=args.users, seconds=seconds, work=work, tag=tag
                    )
                    results[arm.label].append(result)
                    print(f"round {number + 1}/{rounds}  {describe(arm, result)}", flush=True)
        if not args.no_orders:
            shoppers = run_shoppers(args, rounds=rounds, seconds=seconds, work=work)
    report(arms, results, ours=ours, breakdown=args.breakdown)
    if shoppers:
        report_shoppers(shoppers)
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: 2 rounds of 5 s")
    parser.add_argument("--breakdown", action="store_true",
                        help="also run the steps from bare to ours (7 arms, 3 rounds)")  # fmt: skip
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=None, help="default 5 (--quick: 2)")
    parser.add_argument("--seconds", type=float, default=None, help="per round; default 10 (5)")
    parser.add_argument("--trace-sample-ratio", type=float, default=0.1,
                        help="of the 'ours' arm (the plan default is 0.1)")  # fmt: skip
    parser.add_argument("--no-orders", action="store_true",
                        help="skip the orders-per-minute rounds against the stub OMS")  # fmt: skip
    parser.add_argument("--stub-latency-ms", type=float, default=0.0,
                        help="the stub OMS's answer delay (default 0: at once)")  # fmt: skip
    return parser.parse_args()


def run_shoppers(
    args: argparse.Namespace, *, rounds: int, seconds: float, work: Path
) -> list[Round]:
    """Rounds of the default journey mix against the stub OMS: the capacity figure."""
    command = [sys.executable, str(STUB), "--port", "0",
               "--latency-ms", str(args.stub_latency_ms)]  # fmt: skip
    results: list[Round] = []
    with ListeningServer(command, name="stub OMS") as stub:
        print(
            f"orders: the default journey mix (plan defaults: channels, funnels, cancel ratio "
            f"0.1, trace ratio 0.1) against benchmarks/stub_oms.py on {stub.url} (answers "
            f"after {args.stub_latency_ms:g} ms); one Locust process, {args.users} users, no "
            f"wait time; {rounds} rounds x {seconds:g} s",
            flush=True,
        )
        for number in range(rounds):
            result = run_round(SHOPPERS, stub, users=args.users, seconds=seconds, work=work,
                               tag=f"s{number + 1}")  # fmt: skip
            results.append(result)
            print(f"round {number + 1}/{rounds}  {describe_shoppers(result)}", flush=True)
    return results


def describe_shoppers(result: Round) -> str:
    s = result.stats
    text = (
        f"shoppers  {result.journeys:>7,} journeys, {result.orders:>6,} orders confirmed, "
        f"{s.requests:>7,} requests in {result.wall_s:5.2f} s = "
        f"{result.orders_per_min_per_core:8,.0f} orders/min per core  (Locust CPU "
        f"{result.locust_cpu_percent:3.0f} %, stub CPU {result.target_cpu_percent:3.0f} %; "
        f"recorded {result.recorded or 0:,}"
    )
    if s.failures:
        text += f", {s.failures:,} FAILED"
    return text + ")"


def report_shoppers(rounds: list[Round]) -> None:
    """The median round's orders per minute per core, and what a request costs there."""
    per_core = statistics.median(r.orders_per_min_per_core for r in rounds)
    rps = statistics.median(r.stats.requests / max(r.cpu_s, 1e-9) for r in rounds)
    counted = sum(r.stats.requests for r in rounds)
    recorded = sum(r.recorded or 0 for r in rounds)
    busiest = max(r.target_cpu_percent for r in rounds)
    print(
        f"orders per minute per core (default journey mix, instant target): {per_core:,.0f} "
        f"(median of {len(rounds)}; {rps:,.0f} requests/s per core; recorded {recorded:,} of "
        f"the {counted:,} requests Locust counted; stub CPU at most {busiest:.0f} %)"
    )


def report(arms: list[Arm], results: dict[str, list[Round]], *, ours: Arm, breakdown: bool) -> None:
    medians = {label: statistics.median(r.rps for r in rs) for label, rs in results.items()}
    bare = medians[BARE.label]
    print("median req/s: " + " | ".join(f"{a.label} {medians[a.label]:,.0f}" for a in arms))
    for arm in arms[1:]:
        cost_us = (1 / medians[arm.label] - 1 / bare) * 1e6
        line = f"{arm.label}: {cost_us:+.1f} µs per request over bare's {1e6 / bare:.1f} µs"
        if arm.ours:
            counted = sum(r.stats.requests for r in results[arm.label])
            recorded = sum(r.recorded or 0 for r in results[arm.label])
            spans = sum(r.spans or 0 for r in results[arm.label])
            line += (f"; recorded {recorded:,} of the {counted:,} requests Locust counted, "
                     f"{spans:,} spans exported")  # fmt: skip
        print(line)
    if breakdown:
        print("where the time goes (median µs per request, each step against the one above):")
        previous = None
        for arm in arms:
            us = 1e6 / medians[arm.label]
            step = "" if previous is None else f"{us - previous:+6.1f}"
            print(f"  {arm.label:<24} {us:6.1f} {step}")
            previous = us
    busiest = max(r.target_cpu_percent for rs in results.values() for r in rs)
    idle = min(r.locust_cpu_percent for rs in results.values() for r in rs)
    print(
        f"nginx CPU at most {busiest:.0f} % of a core"
        + (" (saturated: the target may be the bottleneck)"
           if busiest > SATURATED_TARGET_PERCENT else " (not the bottleneck)")
        + f"; Locust CPU at least {idle:.0f} % of a core"
    )  # fmt: skip
    ratio = medians[ours.label] / bare
    print(f"ratio instrumented/bare = {ratio:.2f} (target >= {TARGET_RATIO:.2f})")
    full = medians[ALL_TRACED.label] / bare
    print(f"ratio instrumented (every request traced)/bare = {full:.2f} (expected lower)")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("loadgen: interrupted; every process it started was stopped", file=sys.stderr)
        sys.exit(130)
    except RuntimeError as err:
        print(f"loadgen: {err}", file=sys.stderr)
        sys.exit(3)
