"""The API-mismatch detector: pure, fed (endpoint, status, outcome) as the load would."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from collectors.adapter import Outcome
from collectors.mismatch import (
    API_MISMATCH_EVENT,
    Mismatch,
    MismatchDetector,
    answered_ok,
    is_mismatched,
    mismatch_message,
)

PLACE = "POST /orders"
CANCEL = "POST /orders/{order_id}/cancel"
OK = Outcome("ok", "o-1", "loc-1")
SOLD_OUT = Outcome("fail", reason="out_of_stock")


def feed(
    detector: MismatchDetector, answers: Sequence[tuple[int, Outcome | None]]
) -> list[Mismatch]:
    """Every Mismatch the detector returned while fed ``answers`` (as places)."""
    found = [detector.observe(PLACE, status, outcome) for status, outcome in answers]
    return [m for m in found if m is not None]


@pytest.mark.parametrize(
    ("status", "outcome", "expected"),
    [
        (404, Outcome("fail", reason="http 404"), True),
        (405, None, True),
        (400, None, True),
        (422, Outcome("fail", reason="http 422"), True),
        (401, None, True),
        (409, Outcome("fail", reason="out_of_stock"), False),
        (410, Outcome("fail", reason="out_of_stock"), False),
        (429, Outcome("info", reason="http 429"), False),
        (408, None, False),
        (422, SOLD_OUT, False),
        (201, OK, False),
        (202, Outcome("info", reason="unexpected http 202: not a confirmed order"), True),
        (200, None, False),
        (503, Outcome("info", reason="http 503"), False),
        (0, Outcome("info", reason="transport"), False),
    ],
    ids=[
        "a 404 is a route this oms does not have",
        "a 405 is a method this oms does not take there",
        "a 400 is a body this oms does not understand",
        "a 422 the adapter reads as a plain refusal is a mismatch",
        "a 401 is a mismatch too (the oms wants credentials the adapter does not send)",
        "a 409 sold-out is business",
        "a 410 (gone: sold out) is business",
        "a 429 is the oms shedding load, not a mismatch",
        "a 408 is a timeout, not a mismatch",
        "a 422 the adapter reads as out_of_stock is business (an oms that uses 422 for it)",
        "a success read as ok is no mismatch",
        "a success the adapter cannot read (info) is a mismatch",
        "a success not read at all counts as an answer that matched",
        "a 5xx is the oms failing (chaos), not the api",
        "no answer says nothing about the api",
    ],
)
def test_which_answers_say_the_api_does_not_match(
    status: int, outcome: Outcome | None, expected: bool
) -> None:
    assert is_mismatched(status, outcome) is expected


def test_it_trips_at_the_twentieth_answer_when_most_were_404() -> None:
    detector = MismatchDetector()
    found = feed(detector, [(404, None)] * 19)
    assert found == [] and detector.tripped is None
    tripped = detector.observe(PLACE, 404)
    assert tripped == Mismatch(20, 20, {404: 20}, {PLACE: 20})
    assert detector.tripped is tripped and detector.settled


def test_it_trips_once_only() -> None:
    detector = MismatchDetector()
    assert len(feed(detector, [(404, None)] * 40)) == 1


def test_half_mismatched_is_not_enough_more_than_half_is() -> None:
    half = MismatchDetector()
    assert feed(half, [(404, None), (201, OK)] * 10) == []  # 10 of 20: exactly half
    more = MismatchDetector()
    (tripped,) = feed(more, [(404, None), (201, OK)] * 10 + [(404, None)])
    assert (tripped.answered, tripped.mismatched) == (21, 11)


def test_a_correct_oms_selling_out_never_trips() -> None:
    detector = MismatchDetector()
    answers = [(201, OK)] * 5 + [(409, SOLD_OUT)] * 45 + [(404, None)] * 100
    assert feed(detector, answers) == []
    assert detector.settled and detector.tripped is None  # the window passed


def test_timeouts_are_not_counted_so_a_cut_link_neither_trips_nor_hides_a_mismatch() -> None:
    detector = MismatchDetector()
    assert feed(detector, [(0, Outcome("info", reason="transport"))] * 100) == []
    assert detector.answered == 0 and not detector.settled
    (tripped,) = feed(detector, [(404, None)] * 20)
    assert tripped.answered == 20


def test_after_the_window_later_mismatches_are_the_runs_to_judge() -> None:
    detector = MismatchDetector(min_answered=20, window=50)
    assert feed(detector, [(201, OK)] * 50 + [(404, None)] * 200) == []


def test_cancels_count_and_are_named() -> None:
    detector = MismatchDetector(min_answered=4, window=10)
    detector.observe(PLACE, 201, OK)
    detector.observe(CANCEL, 405)
    detector.observe(CANCEL, 405)
    tripped = detector.observe(CANCEL, 404)
    assert tripped is not None and tripped.endpoints == {CANCEL: 3}
    assert tripped.statuses == {405: 2, 404: 1}


def test_the_message_names_share_statuses_endpoints_and_what_to_run() -> None:
    mismatch = Mismatch(25, 21, {404: 19, 422: 2}, {PLACE: 21})
    assert mismatch.message("plans/shop.yaml") == (
        "21 of the first 25 order operations (84%) were answered 404 or 422 (POST /orders): "
        "the adapter does not match this oms's api, or the plan's skus are not this oms's; "
        "run `peakops target check --plan plans/shop.yaml`"
    )


def test_the_event_carries_the_message_and_is_found_in_a_timeline() -> None:
    mismatch = Mismatch(20, 20, {404: 20}, {PLACE: 20})
    event = {"ts": 1.0, "type": API_MISMATCH_EVENT, **mismatch.event_fields("p.yaml")}
    assert event["statuses"] == {"404": 20}
    timeline = [{"ts": 0.5, "type": "load_started"}, event, {"ts": 2.0, "type": "load_finished"}]
    assert mismatch_message(timeline) == mismatch.message("p.yaml")
    assert mismatch_message(timeline[:1]) is None


@pytest.mark.parametrize(
    "kwargs",
    [{"min_answered": 0}, {"min_answered": 60, "window": 50}, {"threshold": 1.0}],
    ids=["at least one answer", "no more answers needed than the window holds",
         "a threshold of 1 could never trip"],
)  # fmt: skip
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        MismatchDetector(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("statuses", "skus", "cause"),
    [
        ({422: 20}, "target.skus",
         "likely a wrong catalog: the skus of target.skus are not this oms's (or the adapter "
         "does not match its api)"),
        ({404: 15, 405: 5}, "target.skus.file test-skus.txt",
         "likely a wrong catalog: the skus of target.skus.file test-skus.txt are not this oms's "
         "(or the adapter does not match its api)"),
        ({405: 20}, "target.skus",
         "the adapter does not match this oms's api, or the plan's skus are not this oms's"),
        ({404: 20}, "adapter.list_skus()",
         "likely a wrong adapter: it does not match this oms's api (the skus are the oms's "
         "own, from adapter.list_skus())"),
        ({404: 20}, None,
         "the adapter does not match this oms's api, or the plan's skus are not this oms's"),
    ],
    ids=[
        "the plan's skus refused as unknown: a wrong catalog",
        "skus from a file refused as unknown: a wrong catalog, the file named",
        "the plan's skus but every method refused: both causes, the adapter first",
        "the oms's own skus refused: a wrong adapter",
        "where the skus came from is not known: both causes",
    ],
)  # fmt: skip
def test_the_likely_cause_follows_what_was_refused_and_where_the_skus_came_from(
    statuses: dict[int, int], skus: str | None, cause: str
) -> None:
    mismatch = Mismatch(20, sum(statuses.values()), statuses, {PLACE: 20})
    assert mismatch.cause(skus) == cause
    message = mismatch.message("p.yaml", skus)
    assert message.endswith(f": {cause}; run `peakops target check --plan p.yaml`")
    assert mismatch.event_fields("p.yaml", skus)["skus"] == skus


@pytest.mark.parametrize(
    ("status", "outcome", "ok"),
    [
        (202, OK, True),
        (200, OK, True),
        (410, SOLD_OUT, True),
        (422, SOLD_OUT, True),
        (409, Outcome("fail", reason="http 409"), True),
        (200, Outcome("fail", reason="rejected"), True),
        (404, Outcome("fail", reason="http 404"), False),
        (400, Outcome("fail", reason="http 400"), False),
        (202, Outcome("info", reason="unexpected http 202"), False),
        (503, Outcome("info", reason="http 503"), False),
        (500, Outcome("fail", reason="http 500"), False),
        (0, Outcome("info", reason="transport"), False),
    ],
    ids=[
        "a 202 read as applied",
        "a replay's 200 read as applied",
        "a 410 read as sold out is business",
        "a 422 read as sold out is business (the adapter says so)",
        "a 409 conflict refused is business",
        "a 2xx read as refused is business",
        "a 404 refused is an error (a route or sku this oms does not have)",
        "a 400 refused is an error (a body this oms does not take)",
        "a 2xx the adapter cannot read is an error",
        "a 5xx is an error",
        "a 5xx is an error even read as a refusal",
        "no answer is an error",
    ],
)  # fmt: skip
def test_an_order_request_succeeded_when_the_adapter_read_a_business_answer(
    status: int, outcome: Outcome, ok: bool
) -> None:
    assert answered_ok(status, outcome) is ok
