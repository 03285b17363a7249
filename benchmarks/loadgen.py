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
spans in ``traces.jsonl``. A figure, not a test: nothing is asserted.

    .venv/bin/python benchmarks/loadgen.py [--quick] [--breakdown] [--users 32]
        [--rounds 5] [--seconds 10] [--trace-sample-ratio 0.1]

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

from _harness import (
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

    @property
    def rps(self) -> float:
        return self.stats.ok / self.stats.seconds


def run_round(arm: Arm, nginx: Nginx, *, users: int, seconds: float, work: Path, tag: str) -> Round:
    """One fresh Locust process running ``arm`` for ``seconds``."""
    json_base = work / f"{tag}-stats"
    cpu_file = work / f"{tag}-cpu.json"
    extra = ["--bench-cpu-file", str(cpu_file),
             "--bench-target-pids", ",".join(map(str, nginx.pids())), *arm.options]  # fmt: skip
    if arm.ours:
        extra += ["--bench-run-root", str(work / f"{tag}-runs")]
    log = work / f"{tag}-locust.log"
    command = locust_command(
        nginx.url, arm.user_class, users=users, seconds=seconds, json_base=json_base, extra=extra
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: 2 rounds of 5 s")
    parser.add_argument("--breakdown", action="store_true",
                        help="also run the steps from bare to ours (7 arms, 3 rounds)")  # fmt: skip
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=None, help="default 5 (--quick: 2)")
    parser.add_argument("--seconds", type=float, default=None, help="per round; default 10 (5)")
    parser.add_argument("--trace-sample-ratio", type=float, default=0.1,
                        help="of the 'ours' arm (the plan default is 0.1)")  # fmt: skip
    args = parser.parse_args()
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
    report(arms, results, ours=ours, breakdown=args.breakdown)
    return 0


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
