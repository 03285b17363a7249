"""The load process: runs the order flood with Locust and records into the run directory.

Started as a child process (``python -m scenarios.flood --run-dir D --host URL``)
because ``import locust`` monkey-patches the whole process with gevent. It reads the
plan from the run directory's header, floods for ``load.duration``, and appends
latency intervals to ``latency.jsonl`` every second, so a SIGKILL loses at most the
open second. A recorder failure stops the flood and fails the process (exit 3).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import locust  # noqa: F401  (first: gevent must patch before anything opens sockets)
from locust.env import Environment

from collectors.latency import IntervalRecorder
from collectors.rundir import LATENCY_FILE, EventLog, RunDir
from scenarios.journeys import FloodConfig, make_user_class
from scenarios.shoppers import Catalog, ChannelMix
from slo.errors import PeakopsError
from slo.plan import Plan, plan_from_snapshot

__all__ = ["main", "run_flood"]

FLUSH_EVERY_S = 0.25


def flood_config(plan: Plan, run_id: str) -> FloodConfig:
    load = plan.load
    return FloodConfig(
        run_id=run_id,
        rate=load.rate,
        users=load.users,
        cancel_ratio=load.cancel_ratio,
        catalog=Catalog.reference(plan.target.catalog.skus, load.zipf),
        channels=ChannelMix(dict(load.channels)),
        seed=load.seed,
    )


class _Recording:
    """Bridges Locust's request event to the interval recorder; loud on failure."""

    def __init__(self, recorder: IntervalRecorder) -> None:
        self.recorder = recorder
        self.error: BaseException | None = None

    def on_request(
        self, request_type: str, name: str, response_time: float, exception: Any, **_: Any
    ) -> None:
        try:
            self.recorder.record(
                f"{request_type} {name}", response_time / 1000.0, exception is None
            )
        except Exception as err:  # a broken recorder must not be swallowed by Locust
            self.error = err


def run_flood(run: RunDir, host: str) -> int:
    plan = plan_from_snapshot(run.header()["plan"], str(run.file("run.json")))
    config = flood_config(plan, run.run_id)
    events = EventLog(run, source="load")
    latency = run.appender(LATENCY_FILE)
    recording = _Recording(IntervalRecorder(latency.append, source="load-0"))
    env = Environment(user_classes=[make_user_class(config)], host=host)
    env.events.request.add_listener(recording.on_request)  # type: ignore[no-untyped-call]
    runner = env.create_local_runner()
    stop = gevent.event.Event()
    gevent.signal_handler(signal.SIGTERM, stop.set)
    gevent.signal_handler(signal.SIGINT, stop.set)

    events.emit(
        "load_started",
        rate=config.rate,
        users=config.users,
        host=host,
        duration_s=plan.load.duration_s,
    )
    runner.start(config.users, spawn_rate=config.users)
    deadline = time.monotonic() + plan.load.duration_s
    while time.monotonic() < deadline and not stop.is_set() and recording.error is None:
        stop.wait(min(FLUSH_EVERY_S, max(0.0, deadline - time.monotonic())))
        recording.recorder.flush()
    runner.quit()
    recording.recorder.flush(final=True)
    if recording.error is not None:
        events.emit("load_failed", error=f"recorder failed: {recording.error!r}")
        return 3
    events.emit("load_finished", interrupted=stop.is_set())
    latency.close()
    events.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenarios.flood", description=__doc__)
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--host", required=True, help="base URL of the target")
    args = parser.parse_args(argv)
    try:
        return run_flood(RunDir.open(args.run_dir), args.host)
    except PeakopsError as err:
        print(f"peakops load: {err}", file=sys.stderr)
        return int(err.exit_code)


if __name__ == "__main__":
    sys.exit(main())
