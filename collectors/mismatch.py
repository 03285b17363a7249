"""Spotting an adapter that does not match the OMS, from the first order operations' answers.

A rehearsal against a ``kind: url`` target with the wrong adapter (or the plan's SKUs
not in that OMS) floods the OMS with requests it refuses as malformed: every order
ends ``fail``, the drift checker has nothing to judge, and the run takes its whole
duration to say so. ``MismatchDetector`` sees it in the first seconds. The rule:

* only **order operations** are fed (places and cancels: what the adapter builds and
  reads), each with the HTTP status it got and, if read, the adapter's ``Outcome``;
* an operation is **answered** when its status is not 0 (a transport failure says
  nothing about the API: a target under chaos is not a mismatch);
* an answered operation is **mismatched** when its status is a 4xx other than the
  refusals a matching API gives in business (``BUSINESS_4XX``: 408 timeout, 409
  conflict and 410 gone (sold out), 423 locked, 425 too early, 429 rate limited), unless
  the adapter read it as a sold-out (``fail``, reason ``out_of_stock``); or a 2xx the
  adapter read as ``info`` (a success it could not understand);
* it **trips** on the first answered operation after which at least ``min_answered``
  (20) were answered and more than ``threshold`` (half) of them were mismatched;
* it only looks at the first ``window`` (50) answered operations: once they pass
  without tripping it is settled and never trips (later 404s are the run's to judge).

The message names the likely cause from what was refused and where the SKUs came
from: SKUs the plan listed (``target.skus``) refused as unknown (404/422) point at a
catalog that is not this OMS's; routes and methods refused (404/405) with the OMS's own
SKUs point at the adapter. Either way it says to run ``peakops target check``.

``answered_ok`` is the same reading for the load's request SLIs: an order operation
succeeded when the adapter read it as applied, or as refused in business (sold out,
a conflict), never because of a list of status codes of one OMS.

Not thread-safe: one per load process (a process's greenlets take turns).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from collectors.adapter import Outcome

__all__ = [
    "API_MISMATCH_EVENT",
    "BUSINESS_4XX",
    "Mismatch",
    "MismatchDetector",
    "answered_ok",
    "is_mismatched",
    "mismatch_message",
]

API_MISMATCH_EVENT: Final = "api_mismatch"
"""The ``events.jsonl`` type of a tripped detector; its ``message`` says what to do."""

BUSINESS_4XX: Final = frozenset({408, 409, 410, 423, 425, 429})
"""4xx answers a matching API gives in normal business: never taken for a mismatch."""


@dataclass(frozen=True)
class Mismatch:
    """What tripped the detector: of ``answered`` order operations, ``mismatched`` were
    refused as not this API; ``statuses`` and ``endpoints`` count the mismatched ones."""

    answered: int
    mismatched: int
    statuses: Mapping[int, int] = field(default_factory=dict)
    endpoints: Mapping[str, int] = field(default_factory=dict)

    @property
    def share(self) -> float:
        return self.mismatched / self.answered if self.answered else 0.0

    def message(self, plan: str = "peak.yaml", skus: str | None = None) -> str:
        """One line for the operator: what was seen, the likely cause, what to run.

        ``skus``: where the run's SKUs came from (``target.skus``, ``adapter.list_skus()``;
        None: not known), which tells a wrong catalog from a wrong adapter."""
        statuses = " or ".join(str(status) for status, _ in _most_common(self.statuses))
        endpoints = ", ".join(endpoint for endpoint, _ in _most_common(self.endpoints))
        return (
            f"{self.mismatched} of the first {self.answered} order operations "
            f"({self.share:.0%}) were answered {statuses} ({endpoints}): {self.cause(skus)}; "
            f"run `peakops target check --plan {plan}`"
        )

    def cause(self, skus: str | None = None) -> str:
        """The likely cause, most likely first."""
        unknown_sku = sum(n for status, n in self.statuses.items() if status in (404, 422))
        listed = skus is not None and skus.startswith("target.skus")
        if listed and unknown_sku * 2 > self.mismatched:
            return (
                f"likely a wrong catalog: the skus of {skus} are not this oms's (or the "
                "adapter does not match its api)"
            )
        if skus is not None and not listed:
            return (
                f"likely a wrong adapter: it does not match this oms's api (the skus are the "
                f"oms's own, from {skus})"
            )
        return "the adapter does not match this oms's api, or the plan's skus are not this oms's"

    def event_fields(self, plan: str = "peak.yaml", skus: str | None = None) -> dict[str, Any]:
        """The fields of the ``api_mismatch`` event (JSON-able)."""
        return {
            "answered": self.answered,
            "mismatched": self.mismatched,
            "statuses": {str(status): n for status, n in sorted(self.statuses.items())},
            "endpoints": dict(sorted(self.endpoints.items())),
            "skus": skus,
            "message": self.message(plan, skus),
        }


class MismatchDetector:
    """Feed it every order operation's answer; it says once, early, if the API mismatches."""

    def __init__(self, *, min_answered: int = 20, window: int = 50, threshold: float = 0.5) -> None:
        if not 1 <= min_answered <= window:
            raise ValueError(f"need 1 <= min_answered <= window, got {min_answered}, {window}")
        if not 0 <= threshold < 1:
            raise ValueError(f"threshold must be in [0, 1), got {threshold}")
        self.min_answered = min_answered
        self.window = window
        self.threshold = threshold
        self.answered = 0
        self.mismatched = 0
        self._statuses: Counter[int] = Counter()
        self._endpoints: Counter[str] = Counter()
        self.tripped: Mismatch | None = None

    @property
    def settled(self) -> bool:
        """True once the window passed (tripped or not): later answers change nothing."""
        return self.tripped is not None or self.answered >= self.window

    def observe(
        self, endpoint: str, status: int, outcome: Outcome | None = None
    ) -> Mismatch | None:
        """Take one order operation's answer; returns the ``Mismatch`` on the one that trips
        the detector (once), else None."""
        if self.settled or status == 0:
            return None
        self.answered += 1
        if is_mismatched(status, outcome):
            self.mismatched += 1
            self._statuses[status] += 1
            self._endpoints[endpoint] += 1
        if self.answered < self.min_answered or self.mismatched <= self.threshold * self.answered:
            return None
        self.tripped = Mismatch(
            self.answered, self.mismatched, dict(self._statuses), dict(self._endpoints)
        )
        return self.tripped


def is_mismatched(status: int, outcome: Outcome | None = None) -> bool:
    """Does this answer say the request was not this OMS's API? (the module's rule)"""
    if 400 <= status < 500 and status not in BUSINESS_4XX:
        sold_out = outcome is not None and outcome.phase == "fail" and (
            outcome.reason == "out_of_stock"
        )  # fmt: skip
        return not sold_out
    return 200 <= status < 300 and outcome is not None and outcome.phase == "info"


def answered_ok(status: int, outcome: Outcome) -> bool:
    """Did an order operation succeed as a request (the load's error-ratio SLI)?

    Yes when the OMS answered (no transport failure, no 5xx), the adapter read a definite
    outcome (``ok``, or ``fail``: refused), and the answer is not one that says the request
    was not this OMS's API (``is_mismatched``): a sold-out or a conflict is business, a
    404 is an error. Which statuses mean success is the adapter's to say, not ours.
    """
    if status == 0 or status >= 500 or outcome.phase == "info":
        return False
    return not is_mismatched(status, outcome)


def mismatch_message(events: Iterable[Mapping[str, Any]]) -> str | None:
    """The message of the first ``api_mismatch`` event in a run's timeline, if any."""
    for event in events:
        if event.get("type") == API_MISMATCH_EVENT:
            return str(event.get("message") or "the adapter does not match the oms's api")
    return None


def _most_common(counts: Mapping[Any, int]) -> list[tuple[Any, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
