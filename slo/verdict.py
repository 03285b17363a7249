"""Turn SLO evaluations into the run's verdict and exit code, under the plan's policy.

Pure. The gate fails closed: a run with no evaluations, or with inconclusive ones,
is not a pass unless the plan says ``onInconclusive: pass``, and then the verdict
says which objectives were let through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from slo.evaluate import Evaluation, Status
from slo.exitcodes import ExitCode
from slo.objectives import Slos

__all__ = ["Status", "Verdict", "decide", "unfinished"]

_OK = int(ExitCode.OK)
_INCONCLUSIVE = int(ExitCode.INCONCLUSIVE)


@dataclass(frozen=True)
class Verdict:
    """The run's overall status, its exit code and why."""

    status: Status
    exit_code: int
    evaluations: tuple[Evaluation, ...]
    reasons: tuple[str, ...]

    def failed(self) -> tuple[Evaluation, ...]:
        """The evaluations that breached their objective."""
        return _with_status(self.evaluations, Status.FAIL)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, as written to ``verdict.json``."""
        return {
            "status": self.status.value,
            "exit_code": self.exit_code,
            "reasons": list(self.reasons),
            "evaluations": [evaluation.to_dict() for evaluation in self.evaluations],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """Read back what ``to_dict`` wrote."""
        return cls(
            status=Status(data["status"]),
            exit_code=int(data["exit_code"]),
            evaluations=tuple(Evaluation.from_dict(item) for item in data["evaluations"]),
            reasons=tuple(str(reason) for reason in data["reasons"]),
        )


def decide(evaluations: Iterable[Evaluation], policy: Slos) -> Verdict:
    """The verdict on ``evaluations`` under ``policy`` (``plan.slos``).

    Any failure -> ``fail`` with ``policy.breach_exit_code``, or with the exit code a
    failed evaluation forces (5: a fault was not reverted); else any inconclusive ->
    ``inconclusive`` (exit 4), or ``pass`` with a reason when the policy lets them
    through; else ``pass`` (exit 0) if anything passed. ``n/a`` evaluations are shown
    but never count as a pass: no evaluations, or only ``n/a`` ones, is inconclusive.
    """
    results = tuple(evaluations)
    failed = _with_status(results, Status.FAIL)
    unsure = _with_status(results, Status.INCONCLUSIVE)
    passed = _with_status(results, Status.PASS)
    if failed:
        forced = [e.exit_code for e in failed if e.exit_code is not None]
        code = max(forced) if forced else policy.breach_exit_code
        reasons = _explain(failed, "breached") + _explain(unsure, "inconclusive")
        return Verdict(Status.FAIL, code, results, reasons)
    if not passed and not unsure:
        reason = "no SLO was evaluated" if not results else "nothing was judged: every SLO is n/a"
        return Verdict(Status.INCONCLUSIVE, _INCONCLUSIVE, results, (reason,))
    if unsure and policy.on_inconclusive == "fail":
        return Verdict(
            Status.INCONCLUSIVE, _INCONCLUSIVE, results, _explain(unsure, "inconclusive")
        )
    if unsure:
        ids = ", ".join(evaluation.slo_id for evaluation in unsure)
        let_through = f"passed with inconclusive SLOs let through (onInconclusive: pass): {ids}"
        reasons = (let_through, *_explain(unsure, "inconclusive"))
        return Verdict(Status.PASS, _OK, results, reasons)
    return Verdict(Status.PASS, _OK, results, (_passed_line(passed, results),))


def unfinished(verdict: Verdict, why: str) -> Verdict:
    """The verdict on a run that did not finish (stopped by a signal or its deadline,
    killed, crashed): inconclusive, whatever it recorded, with ``why`` first.

    What the stop itself caused (a store that never got to reconcile, a flood cut short)
    must not fail a release, and what was recorded cannot pass one. Only a fault left
    behind (a forced exit code, 5) keeps its failure: that outlives the run.
    """
    forced = [e for e in verdict.failed() if e.exit_code is not None]
    if forced:
        return Verdict(verdict.status, verdict.exit_code, verdict.evaluations,
                       (why, *verdict.reasons))  # fmt: skip
    return Verdict(Status.INCONCLUSIVE, _INCONCLUSIVE, verdict.evaluations, (why, *verdict.reasons))


def _passed_line(passed: tuple[Evaluation, ...], results: tuple[Evaluation, ...]) -> str:
    not_applicable = len(results) - len(passed)
    line = f"all {len(passed)} SLOs passed"
    return line + (f" ({not_applicable} n/a)" if not_applicable else "")


def _with_status(evaluations: Iterable[Evaluation], status: Status) -> tuple[Evaluation, ...]:
    return tuple(evaluation for evaluation in evaluations if evaluation.status is status)


def _explain(evaluations: Iterable[Evaluation], what: str) -> tuple[str, ...]:
    return tuple(f"{e.slo_id} {what}: {e.reason}" for e in evaluations)
