"""``peakops watch``: continuous SLO analysis from Prometheus; rolls back on a sustained breach.

Parse the flags, build the policy, the Prometheus source and the rollback target, call
``rollout.watch.watch`` and map how it ended to an exit code (one table, ``_EXIT``):
0 watched the whole ``--for`` without a rollback, 1 (or the plan's
``slos.breachExitCode``) a breach became certain, 2 a bad flag or a refused rollback,
3 Prometheus (or the target) unreachable at the start, 5 the rollback failed.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, NoReturn

import typer

from cli.common import (
    ExitCodeOnBreachOption,
    Output,
    OutputOption,
    PlanOption,
    allowed_hosts,
    fail,
    parse_flag,
    stderr,
    with_breach_exit_code,
)
from slo.durations import format_duration, parse_duration
from slo.errors import PeakopsError, UsageError
from slo.exitcodes import ExitCode

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rollout.analysis import AnalysisPolicy, Decision, WatchedObjective
    from rollout.rollback_action import RollbackAction
    from rollout.watch import WatchOutcome

__all__ = ["watch"]

ALLOWED_NAMESPACES_ENV = "PEAKOPS_ALLOWED_NAMESPACES"


class NoData(StrEnum):
    hold = "hold"
    fail = "fail"


class WatchPlatform(StrEnum):
    local = "local"
    kubernetes = "kubernetes"


def watch(
    prometheus_url: Annotated[
        str, typer.Option(help="The Prometheus that scrapes the load (loopback or --allow-host).")
    ],
    plan: PlanOption = Path("peak.yaml"),
    allow_host: Annotated[
        list[str] | None,
        typer.Option(help="A non-loopback Prometheus host to allow (also PEAKOPS_ALLOWED_HOSTS)."),
    ] = None,
    for_: Annotated[str, typer.Option("--for", help="How long to watch, e.g. 30m.")] = "30m",
    interval: Annotated[str, typer.Option(help="Judge every this long, e.g. 2s.")] = "2s",
    window: Annotated[str, typer.Option(help="Trailing window judged each time.")] = "10s",
    failures: Annotated[
        int, typer.Option(min=1, help="Failing intervals that make a breach certain.")
    ] = 2,
    successes: Annotated[
        int, typer.Option(min=1, help="Passing intervals in a row that clear the failures.")
    ] = 2,
    min_samples: Annotated[
        int, typer.Option(min=1, help="Events a window needs to be judged.")
    ] = 20,
    on_no_data: Annotated[
        NoData, typer.Option(help="hold: no data changes nothing; fail: counts as failing.")
    ] = NoData.hold,
    platform: Annotated[
        WatchPlatform | None, typer.Option(help="Where the release to roll back runs.")
    ] = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="--platform local: the running rehearsal's run dir.")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help=f"In {ALLOWED_NAMESPACES_ENV}.")
    ] = None,
    deployment: Annotated[str | None, typer.Option(help="The Deployment to roll back.")] = None,
    rollout: Annotated[str | None, typer.Option(help="An Argo Rollout to abort instead.")] = None,
    kubeconfig: Annotated[
        str | None,
        typer.Option(envvar="PEAKOPS_KUBECONFIG", help="Kubeconfig (default: $KUBECONFIG)."),
    ] = None,
    context: Annotated[str | None, typer.Option(help="Kubeconfig context.")] = None,
    kube_host: Annotated[
        str | None, typer.Option(envvar="PEAKOPS_KUBE_HOST", help="API URL without credentials.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Decide and print; never roll back.")
    ] = False,
    exit_code_on_breach: ExitCodeOnBreachOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Judge the plan's latency and error-ratio SLOs from Prometheus every interval over
    a trailing window; roll back once a breach is certain (--failures failing intervals).

    Exit codes: 0 watched the whole --for; 1 a breach (rolled back, or would have been
    with --dry-run; or slos.breachExitCode, or --exit-code-on-breach); 2 a bad flag or a
    refused rollback; 3 Prometheus unreachable at the start; 5 the rollback failed.
    """
    from rollout.analysis import split_watched
    from slo.loader import load_plan

    try:
        policy, duration_s = _policy(for_, interval, window, failures, successes, min_samples,
                                     on_no_data)  # fmt: skip
        the_plan = with_breach_exit_code(load_plan(plan), exit_code_on_breach)
        watched, skipped = split_watched(the_plan.slos.objectives)
        if not watched:
            raise UsageError(f"{plan}: no latency or error_ratio SLO to watch")
        url = _url(prometheus_url, allow_host)
        target = (platform, run_dir, namespace, deployment, rollout)
        action = _action(target, (kubeconfig, context, kube_host), dry_run)
        outcome = _run(url, watched, policy, duration_s, action, dry_run, output,
                       [f"{o.id} ({why})" for o, why in skipped], str(plan))  # fmt: skip
    except PeakopsError as err:
        fail(err)
    _finish(outcome, action, dry_run, output, the_plan.slos.breach_exit_code)


def _policy(
    for_: str, interval: str, window: str, failures: int, successes: int, min_samples: int,
    on_no_data: NoData,
) -> tuple[AnalysisPolicy, float]:  # fmt: skip
    from rollout.analysis import AnalysisPolicy

    duration_s = parse_flag(parse_duration, "--for", for_)
    if duration_s < 0:
        raise UsageError(f"--for: must not be negative, got {for_!r}")
    interval_s = parse_flag(parse_duration, "--interval", interval)
    window_s = parse_flag(parse_duration, "--window", window)
    if interval_s <= 0:
        raise UsageError(f"--interval: must be positive, got {interval!r}")
    if window_s < interval_s:
        raise UsageError(
            f"--window: must be at least --interval ({interval}), got {window!r}: requests "
            "between two windows would never be judged"
        )
    policy = AnalysisPolicy(
        interval_s=interval_s, window_s=window_s, failure_limit=failures,
        success_limit=successes, min_samples=min_samples, on_no_data=on_no_data.value,
    )  # fmt: skip
    return policy, duration_s


def _url(url: str, allow_host: list[str] | None) -> str:
    from rollout.promql import prometheus_url

    return prometheus_url(url, allowed_hosts(allow_host), field="--prometheus-url")


def _action(
    target: tuple[WatchPlatform | None, Path | None, str | None, str | None, str | None],
    kube: tuple[str | None, str | None, str | None],
    dry_run: bool,
) -> RollbackAction | None:
    """The rollback target named by the flags (None only for a dry run without one)."""
    from rollout.rollback_action import KubernetesRollback, LocalRunRollback
    from rollout.rollback_kubernetes import parse_allowlist

    platform, run_dir, namespace, deployment, rollout = target
    kubernetes_flags = namespace is not None or deployment is not None or rollout is not None
    if platform is None:
        if run_dir is not None or kubernetes_flags:
            raise UsageError("a rollback target needs --platform local or --platform kubernetes")
        if dry_run:
            return None
        raise UsageError(
            "nothing to roll back: give --platform local --run-dir RUN, or --platform "
            "kubernetes -n NAMESPACE --deployment NAME (or --dry-run to only decide)"
        )
    if platform is WatchPlatform.local:
        if run_dir is None or kubernetes_flags:
            raise UsageError("--platform local takes --run-dir RUN (and no -n/--deployment)")
        return LocalRunRollback(run_dir)
    if namespace is None or run_dir is not None:
        raise UsageError("--platform kubernetes takes -n NAMESPACE (and no --run-dir)")
    if (deployment is None) == (rollout is None):
        raise UsageError("--platform kubernetes: give exactly one of --deployment or --rollout")
    kind: Literal["deployment", "rollout"] = "deployment" if deployment is not None else "rollout"
    name = deployment if deployment is not None else rollout
    kubeconfig, context, host = kube
    return KubernetesRollback(
        namespace, str(name), kind,
        allowed=parse_allowlist(os.environ.get(ALLOWED_NAMESPACES_ENV)), host=host,
        kubeconfig=kubeconfig, context=context,
    )  # fmt: skip


def _run(
    url: str,
    watched: Sequence[WatchedObjective],
    policy: AnalysisPolicy,
    duration_s: float,
    action: RollbackAction | None,
    dry_run: bool,
    output: Output,
    skipped: list[str],
    plan: str,
) -> WatchOutcome:
    from rollout.promql import DEFAULT_TIMEOUT_S, PromClient
    from rollout.watch import PromWindows
    from rollout.watch import watch as run_watch

    timeout_s = min(DEFAULT_TIMEOUT_S, max(1.0, policy.interval_s))
    with PromClient(url, timeout_s=timeout_s) as client:
        source = PromWindows(client, watched)  # an off-bucket latency threshold: exit 2 here
        where = f"{action.target} (revision {action.current_revision() or 'unknown'})" if (
            action is not None) else "none"  # fmt: skip
        _say(
            f"peakops: watching {', '.join(o.id for o in watched)} of {plan} from {url} every "
            f"{format_duration(policy.interval_s)} over the last "
            f"{format_duration(policy.window_s)} for {format_duration(duration_s)}; "
            f"rollback target: {where}{'; dry run: nothing is rolled back' if dry_run else ''}"
        )
        if skipped:
            _say(f"peakops: not watched: {'; '.join(skipped)}")
        return run_watch(
            watched, source, policy, duration_s=duration_s, clock=time.time, sleep=time.sleep,
            on_decision=lambda decision: _show(decision, output),
            action=None if dry_run else action,
        )  # fmt: skip


def _show(decision: Decision, output: Output) -> None:
    """One line per interval on stderr; with --output json, one JSON line on stdout."""
    clock = datetime.fromtimestamp(decision.at).strftime("%H:%M:%S")
    burns = ", ".join(
        f"{j.slo_id} {j.status}" + ("" if j.burn_rate is None else f" burn {j.burn_rate:.2f}")
        for j in decision.judgements
    )
    _say(f"{clock} {decision.interval} [{burns}] -> {decision.action}: {decision.reason}")
    if output is Output.json:
        print(json.dumps({"type": "decision", **decision.to_dict()}, sort_keys=True), flush=True)


_EXIT = {
    "watched": ExitCode.OK,
    "breach": ExitCode.BREACH,
    "rollback_refused": ExitCode.USAGE,
    "rollback_failed": ExitCode.REVERT_FAILED,
}
"""How a watch ended -> exit code (a breach: the plan's breachExitCode, 1 by default)."""


def _finish(
    outcome: WatchOutcome,
    action: RollbackAction | None,
    dry_run: bool,
    output: Output,
    breach_code: int,
) -> NoReturn:
    code = int(_EXIT[outcome.ending])
    if outcome.ending == "breach":
        code = breach_code
    elif isinstance(outcome.error, UsageError):  # the target refused the request
        code = int(ExitCode.USAGE)
    message = _summary(outcome, action, dry_run)
    _say(f"peakops: {message} (exit {code})")
    if output is Output.json:
        result = {
            "type": "result", "ending": outcome.ending, "exit_code": code,
            "intervals": outcome.intervals, "message": message, "dry_run": dry_run,
            "target": None if action is None else action.target,
            "rollback": None if outcome.done is None else outcome.done.to_dict(),
        }  # fmt: skip
        print(json.dumps(result, sort_keys=True), flush=True)
    raise typer.Exit(code)


def _summary(outcome: WatchOutcome, action: RollbackAction | None, dry_run: bool) -> str:
    if outcome.ending == "watched":
        return f"watched {outcome.intervals} intervals: no sustained breach"
    reason = "" if outcome.decision is None else outcome.decision.reason
    target = "the release" if action is None else action.target
    if dry_run:
        return f"dry run: would roll back {target}: {reason}"
    if outcome.error is not None:
        return f"rollback of {target} failed: {outcome.error}; {reason}"
    done = outcome.done
    assert done is not None
    if done.action == "refused":
        return f"rollback of {target} refused: {done.message}; {reason}"
    return f"{done.message or f'{done.action} {target}'}; {reason}"


def _say(text: str) -> None:
    stderr.print(text, highlight=False, markup=False)
