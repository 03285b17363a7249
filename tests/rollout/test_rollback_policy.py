"""The rollback policy on plain data: at most once per bad revision, never a loop."""

from __future__ import annotations

import pytest

from rollout.rollback_policy import (
    MAX_MARKS,
    Action,
    BadMark,
    Marks,
    RevisionRef,
    RollbackRefused,
    decide,
)
from slo.exitcodes import ExitCode

V2, V3 = RevisionRef("2", "fp-v2"), RevisionRef("3", "fp-v3")
WHAT = "deployment shop/oms"


def marked(*fingerprints: str, run_id: str = "run-a", to: str = "fp-v2") -> Marks:
    marks = Marks()
    for fp in fingerprints:
        marks = marks.with_bad(fp, BadMark("3", run_id, "p99 breach", "2026-11-27T00:00:00Z", to))
    return marks


@pytest.mark.parametrize(
    ("current", "target", "marks", "run_id", "action"),
    [
        (V3, V2, Marks(), "run-a", Action.proceed),
        (V2, V2, Marks(), "run-a", Action.already_current),
        (RevisionRef("4", "fp-v2"), V3, marked("fp-v3"), "run-a", Action.already_rolled_back),
        (RevisionRef("4", "fp-v2"), RevisionRef("1", "fp-v1"), marked("fp-v3"), "run-b",
         Action.proceed),
    ],
    ids=[
        "an unmarked previous revision is rolled back to",
        "a target template already running needs nothing",
        "the same run asking again after its rollback needs nothing (idempotent retry)",
        "rolling further back past a bad revision to a good one proceeds",
    ],
)  # fmt: skip
def test_decisions(
    current: RevisionRef, target: RevisionRef, marks: Marks, run_id: str, action: Action
) -> None:
    assert decide(WHAT, current, target, marks, run_id=run_id).action is action


def test_restoring_a_template_marked_bad_is_refused_as_a_loop() -> None:
    # revision 3 was rolled back from; the controller renumbered 2 to 4; kubectl's
    # "previous" is now 3 again.
    with pytest.raises(RollbackRefused, match="would be a rollback loop") as caught:
        decide(WHAT, RevisionRef("4", "fp-v2"), V3, marked("fp-v3"), run_id="run-b")
    assert caught.value.exit_code == ExitCode.USAGE
    assert "run run-a, 'p99 breach'" in str(caught.value)


def test_a_bad_template_running_again_is_not_rolled_back_twice() -> None:
    # a pipeline re-deployed the bad release as revision 5
    with pytest.raises(RollbackRefused, match="at most once per bad revision"):
        decide(WHAT, RevisionRef("5", "fp-v3"), RevisionRef("4", "fp-v2"), marked("fp-v3"),
               run_id="run-b")  # fmt: skip


def test_marks_round_trip_keep_the_newest_and_ignore_garbage() -> None:
    marks = marked(*(f"fp-{n}" for n in range(MAX_MARKS + 5)))
    decoded = Marks.decode(marks.encode())
    assert list(decoded.bad) == [f"fp-{n}" for n in range(5, MAX_MARKS + 5)]
    assert decoded.last() == BadMark("3", "run-a", "p99 breach", "2026-11-27T00:00:00Z", "fp-v2")
    for garbage in (None, "", "not json", "[1, 2]", '{"fp": "not an object"}'):
        assert Marks.decode(garbage).bad == {}
