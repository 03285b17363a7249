"""Cost of one traced request on the load generator: start + inject + end + export.

Runs ``ClientTracer`` against a provider with the batch processor and the OTLP-JSON
file exporter, the way the flood uses it, and prints microseconds per request for each
sample ratio. The batch processor exports on its own thread, but in the same process
under the same GIL, so the clock runs until ``force_flush`` has written every span:
encoding and writing are part of the cost (flushing every 512 spans keeps the queue
from overflowing, which would drop spans and flatter the figure). Compare with the
~230 µs a bare Locust request takes on one core (docs/tracing.md): 10 % is ~23 µs.

    .venv/bin/python benchmarks/trace_overhead.py [--requests 50000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scenarios.tracing import ClientTracer, build_tracer_provider

URL = "http://127.0.0.1:8080/orders"
CHUNK = 512  # the batch processor's default export batch size


def per_request_us(requests: int, sample_ratio: float, traces_file: Path | None) -> float:
    """Microseconds per traced request, export included (best of three runs)."""
    best = float("inf")
    for _ in range(3):
        provider = build_tracer_provider(
            service_name="bench", traces_file=traces_file, sample_ratio=sample_ratio
        )
        tracer = ClientTracer(provider.get_tracer("bench"), run_id="bench-run")
        headers: dict[str, str] = {"X-Peakops-Run-Id": "bench-run"}
        start = time.perf_counter()
        for _ in range(requests // CHUNK):
            for _ in range(CHUNK):
                tracer.start("POST /orders", "POST", URL, headers).end(201)
            provider.force_flush()  # the exporter keeps up, so the queue never drops a span
        best = min(best, time.perf_counter() - start)
        provider.shutdown()
    return best / requests * 1e6


def bare_loop_us(requests: int) -> float:
    """The loop alone, to subtract: a dict header write per request and nothing else."""
    headers: dict[str, str] = {}
    start = time.perf_counter()
    for i in range(requests):
        headers["traceparent"] = str(i)
    return (time.perf_counter() - start) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000)
    args = parser.parse_args()
    loop = bare_loop_us(args.requests)
    print(f"loop alone: {loop:.2f} µs/request")
    with tempfile.TemporaryDirectory() as tmp:
        for ratio in (1.0, 0.1, 0.0):
            path = Path(tmp) / f"traces-{ratio}.jsonl"
            cost = per_request_us(args.requests, ratio, path)
            share = cost / 230 * 100
            print(
                f"sample_ratio={ratio:<4} file exporter: {cost:6.2f} µs/request "
                f"(~{share:.1f} % of a 230 µs Locust request)"
            )
        cost = per_request_us(args.requests, 1.0, None)
        print(f"sample_ratio=1.0  no exporter:   {cost:6.2f} µs/request")


if __name__ == "__main__":
    main()
