"""One rehearsal, start to verdict: target up, flood, gate.

Every stage writes into the run directory as it goes; the verdict is computed by the
same gate ``peakops gate`` uses, so re-gating a run directory gives the same answer.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from collectors.rundir import EventLog, RunDir, new_run_id
from collectors.storewatch import StoreWatch
from platforms.local import LocalPlatform, OmsConfig
from rehearsal.chaos import ChaosSchedule, fault_window_lines, local_chaos, sweep_kubernetes
from rehearsal.load import GRACE_S, run_load_process
from rollout.gate import GateResult, gate_run
from slo.errors import UsageError
from slo.plan import Plan, plan_snapshot
from slo.runfiles import VERDICT_FILE

__all__ = ["Progress", "rehearse"]

Progress = Callable[[float, float], None]
"""Called with (elapsed seconds, planned seconds) while load runs."""


@dataclass(frozen=True)
class _Target:
    url: str
    revision: str | None
    truth_url: str | None = None
    chaos_handle: Path | None = None  # the local platform's handle for chaos children
    store_urls: Mapping[str, str] = field(default_factory=dict)  # location -> store node


def git_sha() -> str | None:
    """The commit of the peakops checkout running this rehearsal, if it is one."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


@contextlib.contextmanager
def _target_up(plan: Plan, run: RunDir, events: EventLog) -> Iterator[_Target]:
    target = plan.target
    if target.kind == "url":
        assert target.base_url is not None  # the plan model guarantees it
        host = urlsplit(target.base_url).hostname or ""
        if host not in target.allow_hosts:
            raise UsageError(f"target.baseUrl: host {host!r} is not in target.allowHosts")
        events.emit("target_ready", url=target.base_url, kind="url")
        if plan.load.scenario == "url":  # the flood requests the URL's path itself
            origin = urlsplit(target.base_url)
            yield _Target(f"{origin.scheme}://{origin.netloc}", None)
        else:
            yield _Target(target.base_url, None, target.truth_url)
        return
    config = OmsConfig(
        version=target.oms_version,
        replicas=target.replicas,
        skus=target.catalog.skus,
        locations=target.catalog.locations,
        seed=target.catalog.seed,
        min_stock=target.catalog.min_stock,
        max_stock=target.catalog.max_stock,
        traces_dir=run.file("traces"),
        fault_proxy=True,  # orders and stores → inventory through proxies, for network faults
        stores=target.stores,
        ship_from_store=target.ship_from_store,
    )

    def on_event(event: dict[str, Any]) -> None:
        fields = dict(event)
        events.emit(str(fields.pop("type", "platform_event")), **fields)

    with LocalPlatform(config, run.file("oms"), on_event=on_event) as platform:
        events.emit(
            "target_ready", url=platform.base_url, kind="embedded", revision=platform.revision
        )
        target_up = partial(
            _Target, platform.base_url, platform.revision, platform.inventory_url,
            store_urls=platform.store_urls(),
        )  # fmt: skip
        if not plan.chaos:
            yield target_up()
            return
        with local_chaos(platform, run, events) as handle:
            yield target_up(chaos_handle=handle)


def rehearse(
    plan: Plan, run_root: Path, *, progress: Progress | None = None, processes: int = 1
) -> GateResult:
    """Run one rehearsal of ``plan``; return the gate's result (files already written).

    ``processes`` > 1 spreads the load over that many Locust worker processes.
    """
    run = RunDir.create(run_root, new_run_id(), plan=plan_snapshot(plan), git_sha=git_sha())
    events = EventLog(run, source="rehearsal")
    events.emit("rehearsal_started", plan=plan.name, run_id=run.run_id)
    status = "crashed"
    try:
        sweep_kubernetes(plan, events)
        with _target_up(plan, run, events) as target:
            run.update_header(target_url=target.url, revision=target.revision)
            duration = plan.load.duration_s
            chaos = ChaosSchedule(plan, run, events, handle=target.chaos_handle)
            with chaos, StoreWatch(run, target.store_urls):
                run_load_process(
                    run,
                    target.url,
                    duration_s=duration,
                    processes=processes,
                    truth_url=target.truth_url,
                    store_urls=target.store_urls,
                    grace_s=GRACE_S + plan.target.probes.settle_timeout_s,
                    on_tick=lambda elapsed: progress(elapsed, duration) if progress else None,
                )
        result = gate_run(run, plan)
        if windows := fault_window_lines(run):
            reasons = (*result.verdict.reasons, *windows)
            result = replace(result, verdict=replace(result.verdict, reasons=reasons))
            run.write_json(VERDICT_FILE, result.to_dict())
        status = result.verdict.status.value
        events.emit("verdict", status=status, exit_code=result.verdict.exit_code)
        if (failure := chaos.failure()) is not None:
            events.emit("revert_failed", error=str(failure))
            raise failure
        return result
    except KeyboardInterrupt:
        status = "interrupted"
        events.emit("interrupted")
        raise
    finally:
        events.close()
        run.finish(status)
