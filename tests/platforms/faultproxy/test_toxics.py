"""Toxic specs and the leased toxic set, as plain data with a hand-driven clock."""

from __future__ import annotations

import pytest

from platforms.faultproxy.toxics import (
    DEFAULT_LEASE_S,
    ToxicError,
    ToxicSet,
    ToxicSpec,
    parse_spec,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _spec(name: str = "slow", lease_s: float = 5.0) -> ToxicSpec:
    return parse_spec({"name": name, "type": "latency", "lease_s": lease_s})


def test_a_minimal_spec_gets_toxiproxy_like_defaults() -> None:
    spec = parse_spec({"type": "latency", "attributes": {"latency_ms": 300}})
    assert spec.name == "latency_downstream"
    assert dict(spec.attributes) == {"latency_ms": 300.0, "jitter_ms": 0.0}
    assert (spec.stream, spec.toxicity, spec.lease_s) == ("downstream", 1.0, DEFAULT_LEASE_S)
    assert spec.applies_to("downstream")
    assert not spec.applies_to("upstream")
    assert parse_spec({"type": "timeout", "stream": "both"}).applies_to("upstream")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "a toxic must be a json object"),
        ({"type": "netem"}, "type must be one of latency, bandwidth, timeout, reset_peer, down"),
        ({"type": "latency", "colour": 1}, "unknown field 'colour'"),
        ({"type": "latency", "attributes": {"latency": 3}}, "unknown attribute 'latency'"),
        ({"type": "latency", "attributes": {"latency_ms": -1}}, "latency_ms must be >= 0"),
        ({"type": "latency", "attributes": {"latency_ms": "9"}}, "latency_ms must be a number"),
        ({"type": "latency", "attributes": {"latency_ms": True}}, "must be a number, got True"),
        ({"type": "bandwidth"}, "bandwidth needs attribute 'rate_kbps'"),
        ({"type": "bandwidth", "attributes": {"rate_kbps": 0}}, "rate_kbps must be more than 0"),
        ({"type": "latency", "stream": "sideways"}, "stream must be one of upstream"),
        ({"type": "latency", "toxicity": 1.5}, "toxicity must be between 0 and 1"),
        ({"type": "latency", "lease_s": 0}, "lease_s must be more than 0"),
        ({"type": "latency", "lease_s": 61}, "lease_s must be between 0 and 60"),
        ({"type": "latency", "name": "a b"}, "name must be 1-100 characters"),
        ({"type": "down", "toxicity": 0.5}, "use reset_peer for flaky links"),
    ],
    ids=[
        "a body that is not an object",
        "an unknown toxic type",
        "an unknown field",
        "an attribute of another type",
        "a negative latency",
        "a latency given as a string",
        "a boolean where a number belongs",
        "a bandwidth without its rate",
        "a bandwidth of zero",
        "an unknown stream",
        "a toxicity above one",
        "a lease of zero seconds",
        "a lease longer than the sixty second cap",
        "a name with a space",
        "a flaky down toxic",
    ],
)
def test_a_bad_spec_is_refused_with_a_400_that_names_the_problem(
    body: object, message: str
) -> None:
    with pytest.raises(ToxicError, match=message) as caught:
        parse_spec(body)
    assert caught.value.status == 400


def test_a_toxic_lapses_at_its_lease_unless_renewed() -> None:
    clock = Clock()
    toxics = ToxicSet(clock)
    toxics.add(_spec("a", lease_s=2))
    toxics.add(_spec("b", lease_s=2))

    clock.now += 1.5
    toxics.renew("b", 2)
    clock.now += 0.4
    assert toxics.expire() == []
    clock.now += 0.1
    assert [t.name for t in toxics.expire()] == ["a"]
    assert [t.name for t in toxics.active()] == ["b"]
    assert toxics.describe()[0]["expires_in_s"] == 1.5
    assert toxics.describe()[0]["renewals"] == 1

    clock.now += 1.5
    assert [t.name for t in toxics.expire()] == ["b"]
    assert toxics.active() == ()


def test_names_are_unique_and_missing_ones_are_404() -> None:
    toxics = ToxicSet(Clock())
    toxics.add(_spec("a"))
    with pytest.raises(ToxicError, match="a toxic named 'a' already exists") as taken:
        toxics.add(_spec("a"))
    assert taken.value.status == 409
    for action in (lambda: toxics.remove("zz"), lambda: toxics.renew("zz", 1)):
        with pytest.raises(ToxicError, match="no toxic named 'zz'") as missing:
            action()
        assert missing.value.status == 404


def test_every_change_bumps_the_version_and_a_re_added_name_gets_a_new_id() -> None:
    toxics = ToxicSet(Clock())
    first = toxics.add(_spec("a"))
    toxics.remove("a")
    second = toxics.add(_spec("a"))
    toxics.renew("a", 3)  # a renewal changes no behaviour: no version bump
    assert toxics.version == 3
    assert second.id != first.id
    assert [t.name for t in toxics.clear()] == ["a"]
    assert toxics.version == 4
    assert toxics.clear() == []
    assert toxics.version == 4
