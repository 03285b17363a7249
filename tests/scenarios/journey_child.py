"""Run one journey with Locust's real HTTP client and print what was recorded (JSON).

Run as a child process (importing Locust patches the whole process with gevent)::

    python -m tests.scenarios.journey_child BASE_URL

Prints ``{"latency": [...], "ledger": [...], "errors": {...}}``: the interval records,
the ledger records and the error tally of one journey (a stock check of ``SKU-1``,
then an order of it), sent through ``FastHttpSession`` to ``BASE_URL`` with the
reference adapter, as the load process sends them.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from locust.contrib.fasthttp import FastHttpSession
from locust.event import EventHook

from collectors.adapter import ReferenceOmsAdapter
from collectors.latency import IntervalRecorder
from collectors.ledger import Ledger
from collectors.loadmeter import LoadMeter
from scenarios.errors import ErrorTally
from scenarios.funnel import JourneyPlan
from scenarios.journeys import JourneyRunner


def main(base_url: str) -> None:
    latency: list[dict[str, Any]] = []
    ledger: list[dict[str, Any]] = []
    errors = ErrorTally()
    session = FastHttpSession(base_url, EventHook(), None, connection_timeout=2.0,
                              network_timeout=2.0)  # fmt: skip
    runner = JourneyRunner(
        session, run_id="run-1", adapter=ReferenceOmsAdapter(base_url, None),
        recorder=IntervalRecorder(latency.append),
        meter=LoadMeter(lambda _r: None, cpu_percent=lambda: 0.0),
        ledger=Ledger(ledger.append, source="load"), tracer=None, key_prefix="k",
        errors=errors,
    )  # fmt: skip
    runner.run(JourneyPlan(channel="web", browse=("SKU-1",), order_sku="SKU-1", cancel=False))
    runner.recorder.flush(final=True)
    json.dump({"latency": latency, "ledger": ledger, "errors": errors.counts}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
