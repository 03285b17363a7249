"""The lines of ``peakops target check``: each check's result, and what it means.

A ``CheckLine`` is one check (``pass``, ``fail``, ``unsupported`` or ``skipped``) with
what happened and what the drift checker can and cannot judge as a result, from the
``JUDGED`` table; the helpers word the details (levels, outcomes, adapter errors).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from collectors.adapter import UNANSWERED, Outcome, StockRow

__all__ = [
    "JUDGED",
    "CheckLine",
    "Levels",
    "failed",
    "levels_of",
    "phase",
    "read_as",
    "show",
    "shows",
]

Levels = dict[str, int]  # available units per location

_JUDGED_ROWS = (
    ("truth readable", "pass", "truth drift judged: start, run and final observations"),
    ("truth readable", "fail", "nothing can be judged: without the truth there is no baseline"),
    ("view {channel} readable", "pass", "the {channel} view is judged against the truth"),
    ("view {channel} readable", "fail", "the {channel} view cannot be judged: probes fail"),
    ("place one unit", "pass", "orders recorded as ok / fail / info"),
    ("place one unit", "fail", "no order is ever applied: oversell and drift cannot be judged"),
    ("truth shows the order", "pass", "acknowledged orders explain the truth"),
    ("truth shows the order", "fail", "every acknowledged order shows as truth drift"),
    ("view {channel} shows the order", "pass", "convergence lag of the {channel} view timed"),
    ("view {channel} shows the order", "slow", "lag above viewStaleness: reported as drift"),
    ("view {channel} shows the order", "fail", "the {channel} view never converges: drift"),
    ("lookup by key", "pass", "unknown place outcomes (timeouts, 5xx) resolved after the run"),
    ("lookup by key", "unsupported", "unknown place outcomes stay unknown: a wider interval"),
    ("lookup by key", "fail", "unknown outcomes resolved wrongly: drift where there is none"),
    ("retry same key", "pass", "retries are replays; a duplicate would be reported"),
    ("retry same key", "fail", "retries cannot be told from duplicates"),
    ("cancel", "pass", "cancels return stock and are judged"),
    ("cancel", "fail", "cancelled stock is unexplained: truth drift"),
    ("cleanup cancel", "pass", "the end-of-run cleanup (cancel_order) can cancel the run's orders"),
    ("cleanup cancel", "fail", "the cleanup cannot cancel: synthetic orders would stay placed"),
    ("cancel lookup", "pass", "unknown cancel outcomes resolved after the run"),
    ("cancel lookup", "unsupported", "unknown cancel outcomes stay unknown: a wider interval"),
    ("cancel lookup", "fail", "unknown cancels resolved wrongly"),
    ("sold out", "pass", "false sold-outs (undersell) counted; oversell judged"),
    ("sold out", "unsupported", "false sold-outs cannot be counted; oversell is judged"),
    ("sold out", "fail", "sold-outs are not read as refusals: oversell, undersell misjudged"),
    ("counts exposed", "pass", "conservation: on hand = available + reserved + committed"),
    ("counts exposed", "unsupported", "conservation: unsupported → the checker cannot check "
     "on hand = available + reserved + committed; everything else is judged"),
    ("counts exposed", "fail", "conservation fails on every observation"),
    ("cleanup", "fail", "a synthetic order stays placed: cancel it by hand"),
)  # fmt: skip
JUDGED: Mapping[tuple[str, str], str] = {(check, st): text for check, st, text in _JUDGED_ROWS}
"""What the drift checker can judge, per check and result (``{channel}`` filled in)."""


@dataclass(frozen=True)
class CheckLine:
    """One line: ``status`` pass/fail/unsupported/skipped, what happened, what is judged."""

    check: str
    status: str
    detail: str
    judged: str
    seconds: float | None = None


def levels_of(rows: Sequence[StockRow]) -> Levels:
    return {row.location: row.available for row in rows}


def show(levels: Levels) -> str:
    return ", ".join(f"{loc} {n}" for loc, n in sorted(levels.items()))


def shows(location: str | None, before: Levels, now: Levels) -> bool:
    """Does a view show one unit gone at ``location`` (anywhere, when not known)?"""
    if location is None:
        return sum(now.values()) == sum(before.values()) - 1
    return location not in before or now.get(location) == before[location] - 1


def phase(outcome: Outcome) -> str:
    return outcome.phase + (f" ({outcome.reason})" if outcome.reason else "")


def read_as(status: int, outcome: Outcome) -> str:
    return f"{f'http {status}' if status else 'no answer'} read as {phase(outcome)}"


def failed(err: Exception) -> tuple[str, str]:
    """(status, detail) for an adapter call that raised ``err``."""
    if isinstance(err, NotImplementedError):
        return "unsupported", "not implemented by the adapter"
    if isinstance(err, httpx.HTTPStatusError):  # the route says most: is it this api's?
        req = err.request
        return "fail", f"http {err.response.status_code} to {req.method} {req.url.path}"
    if isinstance(err, UNANSWERED):
        return "fail", f"the oms could not answer: {type(err).__name__}: {err}"
    return "fail", f"the adapter raised {type(err).__name__}: {err} (an api it does not match?)"
