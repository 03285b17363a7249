"""What the chaos steps did, judged: each step of ``plan.chaos`` becomes an evaluation.

Pure. The gate reads what each chaos runner did from the run's timeline (started,
stopped, halted, its exit code) into a ``ChaosRecord``; ``judge_chaos`` turns it into
one evaluation per planned step:

- hypothesis held (exit 0): pass;
- the hypothesis deviated after the fault (exit 1): fail;
- halted by the stop condition: n/a, with the burn that halted it (the fault is judged
  by the ``during: faults`` objectives and by ``recovery``);
- refused (exit 2), nothing injected (exit 3), no data to check the hypothesis after
  the fault (exit 4), skipped, stopped by the rehearsal, never started or no outcome
  recorded: inconclusive;
- a fault not reverted (exit 5) or a runner killed by a signal: fail with exit code 5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from slo.evaluation import Evaluation, Status
from slo.exitcodes import ExitCode

__all__ = ["CHAOS_KIND", "ChaosRecord", "StepRecord", "judge_chaos"]

CHAOS_KIND = "chaos"


@dataclass(frozen=True)
class StepRecord:
    """What the timeline says of one chaos step (``index`` counts the plan's steps from 1)."""

    index: int
    experiment: str
    started: bool = False
    exit_code: int | None = None
    skipped: str | None = None
    stopped: str | None = None
    halted: str | None = None
    log: str = ""


@dataclass(frozen=True)
class ChaosRecord:
    """Every recorded chaos step, and why the schedule itself failed, if it did."""

    steps: tuple[StepRecord, ...] = ()
    schedule_error: str | None = None


def judge_chaos(experiments: Sequence[str], record: ChaosRecord) -> tuple[Evaluation, ...]:
    """One evaluation per planned step (``experiments``: the plan's, in order)."""
    by_index = {step.index: step for step in record.steps}
    return tuple(
        _judge(index, name, by_index.get(index), record.schedule_error)
        for index, name in enumerate(experiments, start=1)
    )


def _judge(
    index: int, name: str, step: StepRecord | None, schedule_error: str | None
) -> Evaluation:
    def build(status: Status, reason: str, exit_code: int | None = None) -> Evaluation:
        code = step.exit_code if step is not None else None
        return Evaluation(
            slo_id=f"chaos-{index}-{name}", kind=CHAOS_KIND, endpoint="*", status=status,
            observed=float(code) if code is not None else None, threshold=None, unit="exit",
            samples=0, reason=reason, exit_code=exit_code,
        )  # fmt: skip

    see = f" (see {step.log})" if step is not None and step.log else ""
    if step is None or not (step.started or step.skipped):
        why = f": the chaos schedule failed: {schedule_error}" if schedule_error else ""
        return build(Status.INCONCLUSIVE, f"{name} never started{why}")
    if not step.started:
        return build(Status.INCONCLUSIVE, f"{name} skipped: {step.skipped}")
    code = step.exit_code
    if code is not None and (code == ExitCode.REVERT_FAILED or code < 0):
        how = f"its runner died by signal {-code}" if code < 0 else "a fault was not reverted"
        reason = f"{name}: {how}; its faults lapse with their leases{see}"
        return build(Status.FAIL, reason, int(ExitCode.REVERT_FAILED))
    if step.halted:
        return build(Status.NA, f"{name} {step.halted}; judged by the during-faults objectives")
    if step.stopped:
        return build(Status.INCONCLUSIVE, f"{name} stopped before it finished: {step.stopped}{see}")
    if code is None:
        return build(
            Status.INCONCLUSIVE, f"{name}: no outcome recorded (its runner never said){see}"
        )
    return build(*_by_exit_code(name, code, see))


def _by_exit_code(name: str, code: int, see: str) -> tuple[Status, str]:
    if code == ExitCode.OK:
        return Status.PASS, f"{name}: the steady-state hypothesis held before and after the fault"
    if code == ExitCode.BREACH:
        return Status.FAIL, f"{name}: the steady-state hypothesis deviated after the fault{see}"
    if code == ExitCode.USAGE:
        return Status.INCONCLUSIVE, f"{name} was refused before injecting anything{see}"
    if code == ExitCode.INCONCLUSIVE:
        return Status.INCONCLUSIVE, (
            f"{name}: the steady-state hypothesis could not be checked after the fault: its "
            f"probes had no data{see}"
        )
    if code == ExitCode.INFRA:
        return Status.INCONCLUSIVE, (
            f"{name} injected nothing: the target was not in its steady state before the "
            f"fault, or an action failed{see}"
        )
    return Status.INCONCLUSIVE, f"{name}: its runner exited {code}{see}"
