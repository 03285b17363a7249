"""After a run: cancel the orders it left confirmed in the OMS (``peakops cleanup RUN_DIR``).

The ledger says which orders a run placed: every order confirmed (a place ``ok``, or
resolved ``ok`` after the run) and not cancelled (no cancel ``ok``, resolved or not) is
cancelled through the adapter's ``cancel_order``. A place whose outcome stayed unknown
is asked once more (``order_by_key``): if the OMS holds it, it is cancelled too. Each
attempt goes into ``cleanup.jsonl``, so a second cleanup skips what an earlier one
cancelled: cleanup is idempotent, and an answer "already cancelled" counts as done.

Exit codes (``CleanupReport.exit_code``): 0 everything is cancelled (or nothing was
left), 1 some orders could not be (the report says which and why), 3 the OMS did not
answer at all. Orders are never judged here: the verdict does not depend on cleanup.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from collectors.adapter import UNANSWERED, OmsAdapter, Outcome
from collectors.adapters import plan_adapter
from collectors.rundir import RunDir
from slo.errors import RunDirError
from slo.exitcodes import ExitCode
from slo.hosts import check_url
from slo.plan import Plan, plan_from_snapshot
from slo.runfiles import CLEANUP_FILE, HEADER_FILE, LEDGER_FILE

__all__ = [
    "CleanupReport",
    "Leftovers",
    "NotCancelled",
    "adapter_for_run",
    "cleanup_note",
    "cleanup_orders",
    "cleanup_run",
    "leftover_orders",
]

logger = logging.getLogger(__name__)

UNANSWERED_IN_A_ROW = 3
"""Calls in a row the OMS may leave unanswered before cleanup stops asking: an OMS that
is down would otherwise take a timeout per order."""

ALREADY_CANCELLED = "already_cancelled"
"""A ``fail`` outcome with this reason means done: the order was cancelled before."""


@dataclass(frozen=True)
class NotCancelled:
    """An order cleanup could not cancel, and why."""

    order_id: str
    location: str | None
    reason: str


@dataclass(frozen=True)
class CleanupReport:
    """What cleanup found and did: ``cancelled`` now, ``earlier`` (by a previous cleanup),
    ``failed`` (with reasons); ``answered`` is false when the OMS answered no call."""

    found: int
    cancelled: tuple[str, ...] = ()
    earlier: int = 0
    failed: tuple[NotCancelled, ...] = ()
    answered: bool = True

    @property
    def unreachable(self) -> bool:
        return bool(self.failed) and not self.answered

    @property
    def exit_code(self) -> int:
        if self.unreachable:
            return int(ExitCode.INFRA)
        return int(ExitCode.BREACH) if self.failed else int(ExitCode.OK)

    def summary(self) -> str:
        """One line for people: what was cancelled and what was not."""
        if not self.found:
            return "cleanup: the run left no confirmed order in the oms"
        text = f"cleanup: cancelled {len(self.cancelled)} of the run's {self.found} orders"
        if self.earlier:
            text += f" ({self.earlier} more were cancelled by an earlier cleanup)"
        if self.unreachable:
            return text + f"; the oms did not answer: {len(self.failed)} orders are left"
        if self.failed:
            text += f"; {len(self.failed)} could not be cancelled"
        return text

    def failure_lines(self, limit: int = 20) -> list[str]:
        """``order: reason`` for the first ``limit`` orders not cancelled, then a count."""
        lines = [f"{f.order_id}: {f.reason}" for f in self.failed[:limit]]
        if len(self.failed) > limit:
            lines.append(f"... and {len(self.failed) - limit} more (see {CLEANUP_FILE})")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "cancelled": list(self.cancelled),
            "earlier": self.earlier,
            "failed": [vars(f) for f in self.failed],
            "unreachable": self.unreachable,
            "exit_code": self.exit_code,
        }

    def event_fields(self) -> dict[str, Any]:
        """The ``cleanup_finished`` event: counts, and the first few failures."""
        return {
            "summary": self.summary(),
            "found": self.found,
            "cancelled": len(self.cancelled),
            "earlier": self.earlier,
            "failed": len(self.failed),
            "unreachable": self.unreachable,
            "failures": self.failure_lines(limit=5),
        }


@dataclass
class Leftovers:
    """What a ledger shows left in the OMS: ``confirmed`` orders (id -> location) not
    cancelled, and place records whose outcome stayed ``unknown``."""

    confirmed: dict[str, str | None] = field(default_factory=dict)
    unknown: list[dict[str, Any]] = field(default_factory=list)


def leftover_orders(records: Iterable[dict[str, Any]]) -> Leftovers:
    """One pass over the ledger: orders confirmed and not cancelled; places still unknown."""
    placed: dict[str, str | None] = {}
    cancelled: set[str] = set()
    open_places: dict[str, dict[str, Any]] = {}
    for record in records:
        phase, order_id = record.get("phase"), record.get("order_id")
        if record.get("type") == "place":
            if phase in ("invoke", "info"):
                open_places[str(record.get("op"))] = record
            elif phase in ("ok", "fail"):
                open_places.pop(str(record.get("op")), None)
            if phase == "ok" and order_id:
                placed[str(order_id)] = record.get("location")
        elif record.get("type") == "cancel" and phase == "ok" and order_id:
            cancelled.add(str(order_id))
    confirmed = {oid: loc for oid, loc in placed.items() if oid not in cancelled}
    return Leftovers(confirmed, list(open_places.values()))


def cleanup_orders(
    leftovers: Leftovers,
    adapter: OmsAdapter,
    *,
    done: Mapping[str, str] | None = None,
    record: Callable[[dict[str, Any]], None] = lambda _r: None,
    clock: Callable[[], float] = time.monotonic,
    budget_s: float | None = None,
) -> CleanupReport:
    """Cancel ``leftovers`` through ``adapter``; ``done``: orders an earlier cleanup
    cancelled (skipped). Each attempt is passed to ``record``.

    Stops asking after ``UNANSWERED_IN_A_ROW`` unanswered calls, on an adapter bug, or
    when ``budget_s`` is spent; the orders left are reported with the reason.
    """
    done = done or {}
    todo = dict(leftovers.confirmed)
    deadline = clock() + budget_s if budget_s is not None else None
    state = _Asking()
    failed = _placed_after_all(leftovers.unknown, adapter, state, todo)
    earlier = sum(order_id in done for order_id in todo)
    cancelled: list[str] = []
    for order_id, location in todo.items():
        if order_id in done:
            continue
        if state.stop_reason is None and deadline is not None and clock() > deadline:
            state.stop_reason = f"not tried: the cleanup's {budget_s:g} s were spent"
        answer = state.ask(partial(adapter.cancel_order, order_id, location))
        ok = isinstance(answer, Outcome) and (
            answer.phase == "ok" or answer.reason == ALREADY_CANCELLED
        )
        reason = "cancelled" if ok else _why(answer)
        record({"t": time.time(), "order_id": order_id, "location": location,
                "result": "cancelled" if ok else "failed", "reason": reason})  # fmt: skip
        if ok:
            cancelled.append(order_id)
        else:
            failed.append(NotCancelled(order_id, location, reason))
    return CleanupReport(
        found=len(todo), cancelled=tuple(cancelled), earlier=earlier, failed=tuple(failed),
        answered=state.answered,
    )  # fmt: skip


def _placed_after_all(
    unknown: list[dict[str, Any]],
    adapter: OmsAdapter,
    state: _Asking,
    todo: dict[str, str | None],
) -> list[NotCancelled]:
    """Ask the OMS about places whose outcome stayed unknown: those it holds join
    ``todo``; those it cannot tell about are returned (by idempotency key)."""
    failed: list[NotCancelled] = []
    for place in unknown:
        key = str(place.get("key"))
        found = state.ask(partial(adapter.order_by_key, key))
        if isinstance(found, Outcome) and found.phase == "ok" and found.order_id:
            todo.setdefault(found.order_id, found.location)
        elif not isinstance(found, Outcome) or found.phase != "fail":
            why = found if isinstance(found, str) else (found.reason or "no answer")
            failed.append(NotCancelled(f"key {key}", None, f"placed or not is unknown: {why}"))
    return failed


def _why(answer: Outcome | str) -> str:
    if isinstance(answer, str):
        return answer
    if answer.phase == "info":
        return f"outcome unknown: {answer.reason or 'no answer'}"
    return answer.reason or "refused"


class _Asking:
    """Asks the OMS, until it stops answering or the adapter shows a bug."""

    def __init__(self) -> None:
        self.answered = False
        self.unanswered_in_a_row = 0
        self.stop_reason: str | None = None

    def ask(self, call: Callable[[], Outcome]) -> Outcome | str:
        """The call's outcome, or why there is none (a string)."""
        if self.stop_reason is not None:
            return self.stop_reason
        try:
            outcome = call()
        except UNANSWERED as err:
            self.unanswered_in_a_row += 1
            if self.unanswered_in_a_row >= UNANSWERED_IN_A_ROW:
                self.stop_reason = "not tried: the oms stopped answering"
            return f"no answer: {type(err).__name__}: {err}"
        except Exception as err:  # a bug of the adapter: every later call would hit it too
            logger.exception("cleanup: the adapter raised a bug: cleanup stops")
            self.stop_reason = f"not tried: the adapter raised {type(err).__name__}: {err}"
            return f"the adapter raised {type(err).__name__}: {err}"
        self.answered = True
        self.unanswered_in_a_row = 0
        return outcome


def cleanup_run(
    run: RunDir, adapter: OmsAdapter, *, budget_s: float | None = None
) -> CleanupReport:
    """Cancel what ``run`` left confirmed; attempts appended to its ``cleanup.jsonl``."""
    done = {
        str(r["order_id"]): str(r.get("reason"))
        for r in run.records(CLEANUP_FILE)  # a missing file has none
        if r.get("result") == "cancelled" and r.get("order_id")
    }
    leftovers = leftover_orders(run.records(LEDGER_FILE))
    with run.appender(CLEANUP_FILE) as out:
        return cleanup_orders(leftovers, adapter, done=done, record=out.append, budget_s=budget_s)


def adapter_for_run(
    run: RunDir,
    *,
    env: Mapping[str, str] | None = None,
    operator_hosts: frozenset[str] = frozenset(),
) -> tuple[Plan, OmsAdapter]:
    """The run's plan and its adapter, built as the run built it (``run.json``: the plan,
    its directory, the target's URL); the hosts checked like a rehearsal's."""
    header = run.header()
    plan = plan_from_snapshot(run.plan_snapshot(), str(run.file(HEADER_FILE)))
    target = plan.target
    base_url = target.base_url or header.get("target_url")
    if not isinstance(base_url, str) or not base_url:
        raise RunDirError(f"{run.file(HEADER_FILE)}: no target url (the run never started)")
    for name, url in (("target.baseUrl", base_url), ("target.truthUrl", target.truth_url)):
        if url is not None:
            check_url(url, field=name, plan_hosts=target.allow_hosts, operator_hosts=operator_hosts)
    plan_dir = header.get("plan_dir")
    adapter = plan_adapter(
        plan, base_url=base_url, truth_url=target.truth_url,
        plan_dir=Path(plan_dir) if isinstance(plan_dir, str) else None,
        env=os.environ if env is None else env, run_id=run.run_id,
    )  # fmt: skip
    return plan, adapter


def cleanup_note(run: RunDir, *, with_path: bool = True) -> str | None:
    """The last cleanup's outcome as a line for people (from ``events.jsonl``), or None;
    when orders were left, how to retry. ``with_path``: name the run directory as given
    (false for the gate's notes, which do not depend on the caller's path)."""
    note, left = None, False
    for event in run.events():
        if event.get("type") == "cleanup_finished":
            note, left = str(event.get("summary") or ""), bool(event.get("failed"))
        elif event.get("type") == "cleanup_failed":
            note, left = f"cleanup failed: {event.get('error')}", True
    if note and left:
        where = run.path if with_path else "RUN_DIR"
        note += f" (see {CLEANUP_FILE}; retry with: peakops cleanup {where})"
    return note or None
