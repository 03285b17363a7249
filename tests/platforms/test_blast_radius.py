"""Blast-radius guards: every refusal a fault can meet, as tables of plain data."""

from __future__ import annotations

import random
from collections.abc import Mapping

import pytest

from platforms.blast_radius import (
    BlastRadius,
    check_namespace,
    check_selector,
    check_target_count,
    choose_targets,
    format_selector,
    matches_selector,
)
from slo.errors import UsageError
from slo.exitcodes import ExitCode

RADIUS = BlastRadius(allowed_namespaces=("shop", "shop-canary"), max_targets=3, max_percent=50)
PODS = [f"orders-{i}" for i in range(8)]


# ---------------------------------------------------------------- namespaces


def test_an_allowlisted_namespace_passes() -> None:
    check_namespace("shop-canary", RADIUS)


@pytest.mark.parametrize(
    ("namespace", "radius"),
    [
        pytest.param("kube-system", RADIUS, id="a namespace outside the allowlist is refused"),
        pytest.param("Shop", RADIUS, id="namespaces compare exactly (no case folding)"),
        pytest.param("", RADIUS, id="an empty namespace is refused"),
        pytest.param(
            "shop",
            BlastRadius((), max_targets=1, max_percent=100),
            id="an empty allowlist refuses every namespace",
        ),
    ],
)
def test_a_namespace_not_allowlisted_is_refused_naming_it_and_the_allowlist(
    namespace: str, radius: BlastRadius
) -> None:
    with pytest.raises(UsageError) as caught:
        check_namespace(namespace, radius)
    message = str(caught.value)
    assert repr(namespace) in message
    assert "not allowlisted" in message
    for allowed in radius.allowed_namespaces:
        assert allowed in message
    assert caught.value.exit_code == ExitCode.USAGE


# ------------------------------------------------------------------ selectors


@pytest.mark.parametrize(
    ("selector", "labels"),
    [
        pytest.param("app=orders", {"app": "orders"}, id="one equality term"),
        pytest.param(
            " app = orders , tier==web ",
            {"app": "orders", "tier": "web"},
            id="spaces and == are accepted",
        ),
        pytest.param(
            {"app.kubernetes.io/name": "orders"},
            {"app.kubernetes.io/name": "orders"},
            id="a mapping with a prefixed key",
        ),
        pytest.param("canary=", {"canary": ""}, id="an empty value is a real label value"),
    ],
)
def test_a_good_selector_parses_to_match_labels(
    selector: str | Mapping[str, str], labels: dict[str, str]
) -> None:
    assert check_selector(selector) == labels


@pytest.mark.parametrize(
    "selector",
    [
        pytest.param(None, id="a missing selector"),
        pytest.param("", id="an empty string"),
        pytest.param("  ", id="only spaces"),
        pytest.param(" , ,", id="only commas"),
        pytest.param({}, id="an empty mapping"),
    ],
)
def test_an_empty_selector_is_refused_because_it_would_hit_every_pod(
    selector: str | Mapping[str, str] | None,
) -> None:
    with pytest.raises(UsageError, match="an empty selector would target every pod"):
        check_selector(selector)


@pytest.mark.parametrize(
    ("selector", "fragment"),
    [
        pytest.param("app!=orders", "only equality selectors", id="a negated term"),
        pytest.param("app in (orders)", "only equality selectors", id="a set-based term"),
        pytest.param("!canary", "only equality selectors", id="a does-not-exist term"),
        pytest.param("app", "only equality selectors", id="an exists term"),
        pytest.param("app=a=b", "bad label value", id="a value with an equals sign"),
        pytest.param("=orders", "bad label key", id="an empty key"),
        pytest.param("app=orders,app=db", "given twice", id="a key with two values"),
        pytest.param({"app": "x" * 64}, "bad label value", id="a value over 63 characters"),
        pytest.param({"bad key": "v"}, "bad label key", id="a key with a space"),
    ],
)
def test_a_malformed_selector_is_refused_naming_the_bad_part(
    selector: str | Mapping[str, str], fragment: str
) -> None:
    with pytest.raises(UsageError, match=fragment):
        check_selector(selector)


def test_selectors_render_sorted_and_match_every_label() -> None:
    assert format_selector({"tier": "web", "app": "orders"}) == "app=orders,tier=web"
    assert matches_selector({"app": "orders", "tier": "web", "x": "y"}, {"app": "orders"})
    assert not matches_selector({"app": "orders"}, {"app": "orders", "tier": "web"})
    assert not matches_selector(None, {"app": "orders"})


# ------------------------------------------------------------------- targets


@pytest.mark.parametrize(
    ("candidates", "count", "percent", "fragment"),
    [
        pytest.param([], 1, None, "0 targets", id="0 candidates are refused"),
        pytest.param(PODS, 4, None, "would hit 4 targets, more than the limit of 3",
                     id="too many in absolute numbers"),
        pytest.param(PODS[:4], 3, None, r"3 of 4 targets \(75.0 %\), more than the limit of 50 %",
                     id="too many as a percentage of the candidates"),
        pytest.param(PODS[:3], None, 60, r"2 of 3 targets \(66.7 %\)",
                     id="a percentage is rounded up and then checked"),
        pytest.param(PODS, 9, None, "count 9 is more than the 8 targets", id="more than exist"),
        pytest.param(PODS, 0, None, "count must be at least 1", id="a zero count"),
        pytest.param(PODS, None, 0, r"percent must be in \(0, 100\]", id="a zero percentage"),
        pytest.param(PODS, None, 150, r"percent must be in \(0, 100\]", id="over 100 percent"),
        pytest.param(PODS, None, None, "exactly one of count and percent", id="neither given"),
        pytest.param(PODS, 1, 10, "exactly one of count and percent", id="both given"),
    ],
)  # fmt: skip
def test_a_target_choice_outside_the_radius_is_refused_with_the_numbers(
    candidates: list[str], count: int | None, percent: float | None, fragment: str
) -> None:
    with pytest.raises(UsageError, match=fragment):
        choose_targets(
            candidates, count=count, percent=percent, radius=RADIUS, rng=random.Random(1)
        )


@pytest.mark.parametrize(
    ("count", "percent", "expected"),
    [
        pytest.param(2, None, 2, id="an absolute count"),
        pytest.param(None, 25, 2, id="25 percent of 8"),
        pytest.param(None, 10, 1, id="10 percent of 8 rounds up to one pod"),
        pytest.param(3, None, 3, id="exactly the absolute limit"),
    ],
)
def test_choices_within_the_radius_are_random_but_repeatable_with_a_seed(
    count: int | None, percent: float | None, expected: int
) -> None:
    chosen = choose_targets(PODS, count=count, percent=percent, radius=RADIUS, rng=random.Random(7))
    again = choose_targets(PODS, count=count, percent=percent, radius=RADIUS, rng=random.Random(7))
    assert chosen == again
    assert len(chosen) == expected
    assert set(chosen) <= set(PODS)
    assert chosen == sorted(chosen)


def test_different_seeds_choose_different_pods() -> None:
    choices = {
        tuple(choose_targets(PODS, count=1, percent=None, radius=RADIUS, rng=random.Random(seed)))
        for seed in range(20)
    }
    assert len(choices) > 1


def test_a_fault_without_candidates_to_compare_is_held_to_the_absolute_limit_only() -> None:
    check_target_count(3, RADIUS)
    with pytest.raises(UsageError, match="more than the limit of 3"):
        check_target_count(4, RADIUS)
    with pytest.raises(UsageError, match="0 targets"):
        check_target_count(0, RADIUS)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        pytest.param({"max_targets": 0, "max_percent": 50}, "max_targets", id="no targets at all"),
        pytest.param({"max_targets": 1, "max_percent": 0}, "max_percent", id="zero percent"),
        pytest.param({"max_targets": 1, "max_percent": 101}, "max_percent", id="over 100 percent"),
    ],
)
def test_a_nonsense_blast_radius_is_refused(kwargs: dict[str, float], fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        BlastRadius(allowed_namespaces=("shop",), **kwargs)  # type: ignore[arg-type]


def test_a_single_string_is_not_taken_for_an_allowlist_of_characters() -> None:
    with pytest.raises(UsageError, match="tuple of names"):
        BlastRadius(allowed_namespaces="shop", max_targets=1, max_percent=50)  # type: ignore[arg-type]
