"""What each Locust process of the flood sets up around its users.

The target (the plan's adapter, the test SKUs of a url target), the early stop on an
API mismatch (``MISMATCH_MESSAGE`` from a worker to its master), the stock watch of
the writing process, the flush loop, and the records a worker ships to its master.
The listeners that call these are registered by ``scenarios.locustfile``.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import MasterRunner

from collectors.adapter import OmsAdapter
from collectors.adapters import target_skus
from scenarios.session import LoadSession
from scenarios.stockwatch import StockWatch
from slo.errors import PeakopsError
from slo.target import channel_locations

__all__ = [
    "FLUSH_EVERY_S",
    "MISMATCH_MESSAGE",
    "absorb_from",
    "adapter_of",
    "fatal",
    "flush_loop",
    "parse_store_urls",
    "plan_file_of",
    "prepare_target",
    "session_of",
    "ship_from",
    "stock_watch",
    "stop_early",
]

FLUSH_EVERY_S = 0.25
MISMATCH_MESSAGE = "peakops_api_mismatch"
"""The Locust message a worker sends its master when its answers show an API mismatch."""


def session_of(environment: Environment) -> LoadSession:
    return environment.peakops  # type: ignore[attr-defined]


def fatal(err: PeakopsError) -> SystemExit:
    """End the load process before the flood: the message is the last line of its log."""
    return SystemExit(f"peakops: error: {err}")


def prepare_target(session: LoadSession, environment: Environment) -> None:
    """The writing process, before the flood: build the adapter, resolve the test SKUs
    (sent on to the workers with the spawn message)."""
    plan = session.plan
    if plan.load.scenario != "shoppers":
        return
    try:
        found = target_skus(plan, session.plan_dir, adapter_of(session, environment))
    except PeakopsError as err:
        raise fatal(err) from err
    if found is not None:
        session.skus, source = found
        session.skus_source = source
        options = environment.parsed_options
        options.peakops_skus = session.skus  # type: ignore[union-attr]
        options.peakops_skus_source = source  # type: ignore[union-attr]
        session.events().emit("test_skus", count=len(session.skus), source=source)


def stop_early(session: LoadSession, environment: Environment) -> None:
    """How the writing process ends the load on an API mismatch (and a master hears of
    one from a worker)."""
    runner = environment.runner
    assert runner is not None

    def stop() -> None:
        # From a greenlet of its own: the caller is a user's (or the message listener's),
        # which quitting kills.
        gevent.spawn(runner.quit)

    session.stop = stop
    if isinstance(runner, MasterRunner):

        def heard(environment: Environment, msg: Any, **_: Any) -> None:
            session.mismatched(dict(msg.data or {}))

        runner.register_message(MISMATCH_MESSAGE, heard)


def plan_file_of(options: Any) -> str | None:
    """The plan file this process was started with (None: a rehearsal's run directory)."""
    if getattr(options, "peakops_created_run", False):
        return str(getattr(options, "plan", "") or "") or None
    return None


def stock_watch(session: LoadSession, environment: Environment) -> StockWatch:
    plan = session.plan
    probes = plan.target.probes
    return StockWatch(
        session.run, adapter_of(session, environment),
        catalog=session.catalog(),
        rate=probes.rate, hot_skus=probes.hot_skus, settle_timeout_s=probes.settle_timeout_s,
        ledger=session.ledger, events=session.events(), metrics=session.metrics,
        view_staleness_s=probes.view_staleness_s,
        channel_locations=channel_locations(plan.target),
    )  # fmt: skip


def adapter_of(session: LoadSession, environment: Environment) -> OmsAdapter:
    options = environment.parsed_options
    truth_url = (getattr(options, "truth_url", "") or session.plan.target.truth_url) or None
    stores = parse_store_urls(getattr(options, "store_urls", "") or "")
    return session.adapter(environment.host or "", truth_url, stores)


def parse_store_urls(text: str) -> dict[str, str]:
    """``store-1=http://127.0.0.1:8200,store-2=...`` as a mapping (empty text: none)."""
    urls: dict[str, str] = {}
    for term in filter(None, (part.strip() for part in text.split(","))):
        location, sep, url = term.partition("=")
        if not sep or not location.strip() or not url.strip():
            raise SystemExit(f"--store-urls: expected location=URL, got {term!r}")
        urls[location.strip()] = url.strip()
    return urls


def flush_loop(session: LoadSession, *, plan_closed: bool) -> None:
    """Close intervals on time, and in the closed model book what the profile planned."""
    last = 0.0
    planner = session.journey_planner(0)
    per_journey = planner.expected_calls()
    opj = planner.orders_per_journey()
    while True:
        gevent.sleep(FLUSH_EVERY_S)
        if plan_closed:
            now = min(time.perf_counter() - session.started, session.plan.load.duration_s)
            arrivals = session.profile.expected_orders(last, now) / opj
            session.meter.plan_expected(arrivals, {k: v * arrivals for k, v in per_journey.items()})
            last = now
        session.flush()


def ship_from(session: LoadSession) -> Any:
    def ship(client_id: str, data: dict[str, Any]) -> None:
        session.flush()
        assert session.buffer is not None
        data["peakops"] = session.buffer.drain()

    return ship


def absorb_from(session: LoadSession) -> Any:
    def absorb(client_id: str, data: dict[str, Any]) -> None:
        session.absorb(data.get("peakops") or {})

    return absorb
