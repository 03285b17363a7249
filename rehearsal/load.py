"""Run the load process (a child: Locust patches whatever imports it) and watch it.

``LocustLoad`` is the rehearsal's default ``LoadRunner`` (``rehearsal.seams``).

While the flood runs, the run's timeline is followed for an ``api_mismatch`` event (the
load process saw its first order operations refused as not this OMS's API): the load
process stops itself on it, is stopped if it has not within ``MISMATCH_STOP_S``, and
the rehearsal ends with ``InfraError`` (exit 3) carrying the event's message, which
names the likely cause and points at ``peakops target check``.

When the rehearsal runs its own Prometheus (a ``monitoring_started`` event of mode
``local`` before the load), the load process is told it is scraped (``--await-scrape``):
it starts its arrivals after Prometheus has sampled its endpoints at zero, so PromQL
counts the whole run (``scenarios.locustfile``, docs/promql-gate.md).
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from collectors.mismatch import API_MISMATCH_EVENT, mismatch_message
from collectors.rundir import RunDir
from platforms.base import Endpoints
from platforms.processes import die_with_parent_hook, free_port
from slo.errors import InfraError
from slo.runfiles import EVENTS_FILE, LOAD_LOG, MONITORING_STARTED

__all__ = [
    "MISMATCH_STOP_S",
    "EventTail",
    "LocustLoad",
    "locust_command",
    "run_load_process",
    "scraped_by_own_prometheus",
]

MISMATCH_STOP_S = 5.0
"""How long a load process that saw an API mismatch may take to stop by itself."""


class LocustLoad:
    """The flood as a Locust child (``processes`` > 1: that many worker processes)."""

    def __init__(self, processes: int = 1) -> None:
        self.processes = processes

    def run(
        self,
        run: RunDir,
        endpoints: Endpoints,
        *,
        duration_s: float,
        grace_s: float,
        on_tick: Callable[[float], None],
    ) -> None:
        run_load_process(
            run,
            endpoints.base_url,
            duration_s=duration_s,
            processes=self.processes,
            truth_url=endpoints.truth_url,
            store_urls=endpoints.store_urls,
            grace_s=grace_s,
            on_tick=on_tick,
        )


def run_load_process(
    run: RunDir,
    host: str,
    *,
    duration_s: float,
    processes: int = 1,
    truth_url: str | None = None,
    store_urls: Mapping[str, str] | None = None,
    grace_s: float = 30.0,
    on_tick: Callable[[float], None] = lambda _elapsed: None,
) -> None:
    """Flood ``host`` for the plan's duration; raise ``InfraError`` if the load process fails.

    ``on_tick`` gets the elapsed seconds a few times a second (progress display).
    Ctrl-C stops the flood cleanly: the child gets SIGTERM, flushes, and exits.
    """
    command = locust_command(
        run, host, processes=processes, truth_url=truth_url, store_urls=store_urls,
        await_scrape=scraped_by_own_prometheus(run),
    )  # fmt: skip
    with run.file(LOAD_LOG).open("ab") as log:
        # The flood must not outlive a rehearsal that was killed (SIGKILL included).
        child = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent_hook()
        )
        started = time.monotonic()
        timeline = EventTail(run.file(EVENTS_FILE))
        mismatch_at: float | None = None
        try:
            while child.poll() is None:
                now = time.monotonic()
                elapsed = now - started
                on_tick(min(elapsed, duration_s))
                if elapsed > duration_s + grace_s:
                    child.kill()
                    raise InfraError(
                        f"load process overran its {duration_s:.0f} s by {grace_s:.0f} s"
                    )
                if mismatch_at is None and timeline.has(API_MISMATCH_EVENT):
                    mismatch_at = now
                if mismatch_at is not None and now - mismatch_at > MISMATCH_STOP_S:
                    _stop(child)  # it did not stop by itself: the flood must not go on
                    break
                time.sleep(0.2)
        except BaseException:
            _stop(child)
            raise
    message = mismatch_message(run.events())
    if message is not None:
        raise InfraError(f"load stopped early: {message}")
    if child.returncode != 0:
        tail = run.file(LOAD_LOG).read_text(errors="replace").strip().splitlines()[-5:]
        raise InfraError(f"load process exited with code {child.returncode}: " + " | ".join(tail))


def locust_command(
    run: RunDir,
    host: str,
    *,
    processes: int = 1,
    truth_url: str | None = None,
    store_urls: Mapping[str, str] | None = None,
    await_scrape: bool = False,
) -> list[str]:
    """Locust, headless, running our locustfile into ``run`` (``processes`` > 1 forks
    workers; ``await_scrape``: Prometheus scrapes its metrics, see the module doc)."""
    spec = importlib.util.find_spec("scenarios.locustfile")  # located, not imported
    assert spec is not None and spec.origin is not None
    command = [
        sys.executable, "-m", "locust", "-f", spec.origin, "--headless",
        "--run-dir", str(run.path), "--host", host,
        "--exit-code-on-error", "0",  # the gate judges errors, not Locust
        "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    if processes > 1:  # the master listens for its workers on loopback only, on a free port
        port = str(free_port())
        command += ["--processes", str(processes), "--master-bind-host", "127.0.0.1",
                    "--master-bind-port", port, "--master-port", port]  # fmt: skip
    if truth_url:
        command += ["--truth-url", truth_url]
    if store_urls:
        command += ["--store-urls", ",".join(f"{loc}={url}" for loc, url in store_urls.items())]
    if await_scrape:
        command.append("--await-scrape")
    return command


def scraped_by_own_prometheus(run: RunDir) -> bool:
    """Whether the rehearsal's own Prometheus scrapes the load (through its relay): it
    said ``monitoring_started`` in mode ``local`` before the load."""
    return any(
        event.get("type") == MONITORING_STARTED and event.get("mode") == "local"
        for event in run.events()
    )


class EventTail:
    """Follows a growing ``events.jsonl``: each call reads only what was appended since."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.seen: set[str] = set()

    def has(self, event_type: str) -> bool:
        """Has an event of ``event_type`` been appended (now or before)?"""
        try:
            with self.path.open("rb") as events:
                events.seek(self.offset)
                chunk = events.read()
        except FileNotFoundError:
            return False
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a torn last line is read next time
        self.offset += len(complete)
        for line in complete.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the gate reports torn records; here only the type matters
            if isinstance(record, dict):
                self.seen.add(str(record.get("type")))
        return event_type in self.seen


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
