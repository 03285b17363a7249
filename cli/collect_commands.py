"""``peakops collect``: the peak-day collector, run next to production until stopped.

Builds the plan's adapter, the SKU list and the collector, serves its metrics on
loopback, and runs it until SIGINT/SIGTERM/SIGHUP (exit 128 + the signal, after the
canary's orders are cleaned up) or ``--for`` (exit 0; 4 if probing stopped on an
adapter bug). docs/collect.md.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from cli.common import AllowHostOption, PlanOption, allowed_hosts, fail, parse_flag, stderr
from collectors.adapter import OmsAdapter
from collectors.adapters import check_plan_adapter, plan_adapter, run_headers, target_skus
from collectors.collect import CanarySpec, Collector, MetricsServer, http_sender, serve_metrics
from collectors.collect_lag import default_resolution_s
from collectors.jsonl import JsonlAppender
from collectors.probes import ProbeSchedule
from collectors.rundir import new_run_id
from rehearsal.shutdown import Stopped, exit_code_for, stop_on_signals
from slo.collect_model import parse_listen
from slo.durations import parse_duration
from slo.errors import PeakopsError, UsageError
from slo.exitcodes import ExitCode
from slo.hosts import check_url
from slo.loader import load_plan
from slo.plan import Plan

__all__ = ["collect"]

OUT_FILE = "collect.jsonl"


def collect(
    plan: PlanOption = Path("peak.yaml"),
    listen: Annotated[
        str | None,
        typer.Option(
            help="host:port of /metrics: 127.0.0.1, ::1 or localhost only "
            "(default: collect.listen, 127.0.0.1:9464; port 0: a free one)."
        ),
    ] = None,
    for_: Annotated[
        str | None, typer.Option("--for", help="Stop after this long, e.g. 30m (default: never).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Also append what it saw to DIR/collect.jsonl.")
    ] = None,
    allow_host: AllowHostOption = None,
) -> None:
    """Watch a running OMS on peak day: stock drift, convergence lag, probe errors, canary.

    Probes the truth and every channel view through the plan's adapter at
    target.probes.rate and serves Prometheus metrics (peakops_collect_*) on loopback.
    Places orders only when the plan has collect.canary. Runs until SIGINT, SIGTERM or
    SIGHUP (exit 128 + the signal) or --for.
    """
    closing: list[Any] = []  # closed last, whatever happened
    code = int(ExitCode.OK)
    with stop_on_signals() as state:
        collector: Collector | None = None
        try:
            the_plan = load_plan(plan)
            host, port = _listen(listen or the_plan.collect.listen)
            for_s = parse_flag(parse_duration, "--for", for_) if for_ is not None else None
            if for_s is not None and for_s <= 0:
                raise UsageError(f"--for: must be positive, got {for_!r}")
            run_id = new_run_id()
            adapter = _adapter(the_plan, plan, allowed_hosts(allow_host), run_id)
            closing.append(adapter)
            sink = JsonlAppender(_out_dir(out) / OUT_FILE) if out is not None else None
            closing.append(sink)
            collector, skus = _collector(the_plan, plan, adapter, run_id,
                                         sink.append if sink else None, closing)  # fmt: skip
            server = _serve(collector, host, port)
            closing.insert(0, server)
            _announce(collector, server, skus, run_id)
            collector.run(for_s)
        except PeakopsError as err:
            fail(err)
        except Stopped as stop:
            code = exit_code_for(stop, code)
            probes = collector.probes if collector is not None else 0
            stderr.print(f"peakops collect: stopped: {stop.reason} ({probes} probes)",
                         highlight=False)  # fmt: skip
        finally:
            state.hold()  # cleaning up (the canary's orders) is not cut short
            if collector is not None:
                collector.close()
            for resource in closing:
                with contextlib.suppress(Exception):
                    getattr(resource, "close", lambda: None)()
    raise typer.Exit(_final_code(collector, code))


def _listen(text: str) -> tuple[str, int]:
    try:
        return parse_listen(text)
    except ValueError as err:
        raise UsageError(f"--listen: {err}") from err


def _adapter(plan: Plan, plan_path: Path, hosts: frozenset[str], run_id: str) -> OmsAdapter:
    """The plan's adapter for its url target, once both host keys agreed on every URL;
    every request it makes itself carries the run id's tag."""
    target = plan.target
    if target.kind != "url" or target.base_url is None:
        raise UsageError(
            "collect watches a running oms: the plan needs target.kind: url with baseUrl "
            f"(and truthUrl for the source of truth), got kind {target.kind}"
        )
    base = check_url(target.base_url, field="target.baseUrl", plan_hosts=target.allow_hosts,
                     operator_hosts=hosts)  # fmt: skip
    truth = target.truth_url
    if truth is not None:
        truth = check_url(truth, field="target.truthUrl", plan_hosts=target.allow_hosts,
                          operator_hosts=hosts)  # fmt: skip
    plan_dir = plan_path.resolve().parent
    check_plan_adapter(plan, plan_dir, plan_path)
    return plan_adapter(plan, base_url=base, truth_url=truth, plan_dir=plan_dir, env=os.environ,
                        run_id=run_id)  # fmt: skip


def _collector(
    plan: Plan, plan_path: Path, adapter: OmsAdapter, run_id: str, sink: Any, closing: list[Any]
) -> tuple[Collector, str]:
    """The collector, and which SKUs it probes (for people)."""
    probes, canary = plan.target.probes, plan.collect.canary
    skus, source = target_skus(plan, plan_path.resolve().parent, adapter) or ([], "none")
    hot = skus[: probes.hot_skus]
    rest = skus[len(hot) :]
    resolution = plan.collect.lag_resolution_s or default_resolution_s(
        len(hot), len(rest), probes.rate
    )
    send, spec = None, None
    if canary is not None:
        client = httpx.Client(base_url=plan.target.base_url or "", timeout=5.0,
                              headers=run_headers(run_id), trust_env=False)  # fmt: skip
        closing.append(client)
        send = http_sender(client)
        spec = CanarySpec(canary.sku, canary.every_s, canary.channel, canary.location,
                          plan.target.test_customer)  # fmt: skip
    collector = Collector(adapter, ProbeSchedule(hot, rest), rate=probes.rate,
                          view_staleness_s=probes.view_staleness_s, lag_resolution_s=resolution,
                          canary=spec, send=send, run_id=run_id, sink=sink)  # fmt: skip
    return collector, f"{len(skus)} SKUs ({len(hot)} hot) from {source}"


def _out_dir(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"--out: cannot create {out}: {err.strerror}") from err
    return out


def _serve(collector: Collector, host: str, port: int) -> MetricsServer:
    try:
        return serve_metrics(collector.registry, host, port)
    except OSError as err:
        raise UsageError(f"--listen: cannot serve on {host}:{port}: {err.strerror}") from err


def _announce(collector: Collector, server: MetricsServer, skus: str, run_id: str) -> None:
    canary = collector.canary
    orders = f"a canary order every {canary.spec.every_s:g} s" if canary else "no orders"
    stderr.print(
        f"peakops collect: run {run_id}: metrics on {server.url}; probing {skus} at "
        f"{1 / collector.period_s:g}/s; {orders} (SIGINT/SIGTERM to stop)",
        highlight=False, markup=False, soft_wrap=True,
    )  # fmt: skip


def _final_code(collector: Collector | None, code: int) -> int:
    """``code``, or inconclusive (4) for a ``--for`` run whose probing stopped on a bug."""
    if collector is not None and collector.failure is not None:
        failure = collector.failure
        stderr.print(f"peakops collect: probing stopped on an adapter bug: {failure.call}: "
                     f"{failure.error}", highlight=False, markup=False)  # fmt: skip
        if code == ExitCode.OK:
            return int(ExitCode.INCONCLUSIVE)
    return code
