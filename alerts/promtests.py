"""Generator of the promtool unit tests shipped with the rules (``<plan>.tests.yaml``).

For every SLO and every burn-rate alert: traffic just above the alert's threshold
(1.25x) fires it, traffic just below (0.75x) does not; with ``alertMinEvents``, traffic
above the threshold but below the guard does not either. Once for the file: zero
traffic fires nothing. For every SLO: its metric gone for the window set's ``noData``
leaves the no-data alert silent, gone one scrape longer fires it.
The expected alerts come from ``alerts.oracle``, so that SLOs reading the same series
(two objectives on one endpoint) are all accounted for.

Timing: traffic is constant from time 0, so every alert is checked once, when its
longest window is full (the set's longest window, ``EVAL``); rules are evaluated only
at 0 and then (``evaluation_interval`` = that window). With ``for: 0s`` and constant
inputs no answer depends on the evaluations in between, and promtool stays fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import reduce
from typing import Any

from alerts.durations import format_window
from alerts.model import AlertSlo, AlertSpec, CountSli, RatioSli, Selector
from alerts.oracle import ExpectedAlert, Series, expected_burn, expected_no_data
from alerts.window_sets import BurnPair, number
from slo.conventions import ALERT_NO_DATA, burn_alert_name

__all__ = ["ABOVE", "BELOW", "TRAFFIC_PER_STEP", "TestFile", "build_tests", "test_step"]

ABOVE = 1.25
"""Tests burn this many times the alert's threshold to see it fire ..."""
BELOW = 0.75
"""... and this many times to see it stay silent."""
TRAFFIC_PER_STEP = 1000.0
"""Events per scrape in the tests (more when the guard or a tiny budget needs it)."""


@dataclass(frozen=True, slots=True)
class TestFile:
    """A promtool test file as data, and the notes for its header."""

    content: dict[str, Any]
    notes: tuple[str, ...]


def test_step(spec: AlertSpec) -> int:
    """The tests' scrape interval: half the largest interval dividing every window and
    ``noData`` (three samples in the shortest window: rate() is exact), or the set's
    scrape interval when that is longer. Fewer samples than a real scrape keep promtool
    fast."""
    common = reduce(math.gcd, (*spec.windows.windows_s, spec.windows.no_data))
    return max(spec.windows.scrape_interval, common // 2 if common % 2 == 0 else common)


def _eval(spec: AlertSpec) -> int:
    return max(spec.windows.long_windows_s)


def build_tests(spec: AlertSpec, rule_file: str) -> TestFile:
    groups: list[dict[str, Any]] = []
    notes: list[str] = []
    for slo in sorted(spec.slos, key=lambda s: s.id):
        for pair in spec.windows.pairs:
            groups += _burn_groups(spec, slo, pair, notes)
        groups += _no_data_groups(spec, slo)
    groups.append(_zero_traffic_group(spec))
    content = {
        "evaluation_interval": format_window(_eval(spec)),
        "rule_files": [rule_file],
        "tests": groups,
    }
    return TestFile(content=content, notes=tuple(notes))


def _burn_groups(
    spec: AlertSpec, slo: AlertSlo, pair: BurnPair, notes: list[str]
) -> list[dict[str, Any]]:
    """Above (fires), below (silent) and, with the guard, above but too few events."""
    name = burn_alert_name(pair.severity, pair.speed)
    above, below = _levels(spec, slo, pair)
    traffic = _traffic(spec, slo, pair)
    groups = []
    if above is None:
        notes.append(f"{slo.id}: {name} is only tested silent (it can never fire)")
    else:
        groups.append(_burn_group(spec, slo, pair, f"fires at {number(ABOVE)}x", above, traffic))
        if spec.min_events is not None and isinstance(slo.sli, RatioSli):
            few = float(number(spec.min_events / 2 / (pair.long_s / test_step(spec))))
            groups.append(_burn_group(spec, slo, pair, "silent under alertMinEvents", above, few))
    groups.append(_burn_group(spec, slo, pair, f"silent at {number(BELOW)}x", below, traffic))
    return groups


def _levels(spec: AlertSpec, slo: AlertSlo, pair: BurnPair) -> tuple[float | None, float]:
    """Bad share of events (ratio SLI) or bad events per step (count SLI) above and
    below the pair's threshold; above is None when no traffic can reach it."""
    if isinstance(slo.sli, CountSli):
        per_step = pair.factor * slo.budget * test_step(spec) / spec.windows.period
        return (float(number(ABOVE * per_step)) if per_step else 1.0), BELOW * per_step
    threshold = pair.factor * slo.budget
    if threshold >= 1:
        return None, 1.0  # every event bad still does not reach it
    if threshold == 0:
        return 0.01, 0.0
    above = ABOVE * threshold if ABOVE * threshold <= 1 else (threshold + 1) / 2
    return float(number(above)), float(number(BELOW * threshold))


def _traffic(spec: AlertSpec, slo: AlertSlo, pair: BurnPair) -> float:
    """Events per step: enough for the guard and for bad events of a tiny budget."""
    traffic = TRAFFIC_PER_STEP
    if spec.min_events is not None:
        traffic = max(traffic, 2 * spec.min_events / (pair.long_s / test_step(spec)))
    if isinstance(slo.sli, RatioSli) and 0 < slo.budget * pair.factor < 0.01:
        traffic = max(traffic, 100 / (slo.budget * pair.factor))
    return float(number(math.ceil(traffic)))


def _rates(slo: AlertSlo, level: float, traffic: float) -> dict[Series, float]:
    """Increments per step of the SLO's sample series at ``level``."""
    if isinstance(slo.sli, CountSli):
        return {_series(s): level for s, _ in slo.sli.samples}
    bad = float(number(level * traffic))
    per_role = {"total": traffic, "good": float(number(traffic - bad)), "bad": bad}
    return {_series(s): per_role[role] for s, role in slo.sli.samples}


def _series(selector: Selector) -> Series:
    return (selector.metric, selector.matchers)


def _series_text(series: Series) -> str:
    return Selector(*series).promql()


def _burn_group(
    spec: AlertSpec, slo: AlertSlo, pair: BurnPair, what: str, level: float, traffic: float
) -> dict[str, Any]:
    step, eval_s = test_step(spec), _eval(spec)
    rates = _rates(slo, level, traffic)
    name = burn_alert_name(pair.severity, pair.speed)
    expected = expected_burn(spec, pair, rates, eval_s, step)
    return {
        "name": f"{slo.id}: {name} {what}",
        "interval": format_window(step),
        "input_series": [
            {"series": _series_text(s), "values": f"0+{number(v)}x{eval_s // step}"}
            for s, v in sorted(rates.items())
        ],
        "alert_rule_test": [_alert_test(eval_s, name, expected)],
    }


def _alert_test(eval_s: int, name: str, expected: tuple[ExpectedAlert, ...]) -> dict[str, Any]:
    return {
        "eval_time": format_window(eval_s),
        "alertname": name,
        "exp_alerts": [
            {"exp_labels": dict(a.labels), "exp_annotations": dict(a.annotations)} for a in expected
        ],
    }


def _presence_series(spec: AlertSpec) -> set[Series]:
    return {_series(slo.presence) for slo in spec.slos}


def _no_data_groups(spec: AlertSpec, slo: AlertSlo) -> list[dict[str, Any]]:
    """Every SLO's metric present until ``EVAL``, but ``slo``'s (and whatever it selects)
    stops ``noData`` before: silent; one scrape earlier still: the alert fires."""
    return [_no_data_group(spec, slo, gone_s) for gone_s in (0, test_step(spec))]


def _no_data_group(spec: AlertSpec, slo: AlertSlo, extra_s: int) -> dict[str, Any]:
    step, eval_s, no_data = test_step(spec), _eval(spec), spec.windows.no_data
    every = _presence_series(spec)
    stopped = {s for s in every if slo.presence.matches(s[0], dict(s[1]))}
    last_s = eval_s - no_data - extra_s
    inputs = []
    for series in sorted(every):
        if series in stopped:
            values = f"0+1x{last_s // step} _x{(eval_s - last_s) // step}"
        else:
            values = f"0+1x{eval_s // step}"
        inputs.append({"series": _series_text(series), "values": values})
    alive = every - stopped if extra_s else every
    gone = format_window(no_data + extra_s)
    verdict = "fires" if extra_s else "silent"
    return {
        "name": f"{slo.id}: {ALERT_NO_DATA} {verdict} with {slo.presence.metric} gone for {gone}",
        "interval": format_window(step),
        "input_series": inputs,
        "alert_rule_test": [_alert_test(eval_s, ALERT_NO_DATA, expected_no_data(spec, alive))],
    }


def _zero_traffic_group(spec: AlertSpec) -> dict[str, Any]:
    """Every series present and flat: no burn-rate alert, no no-data alert."""
    step, eval_s = test_step(spec), _eval(spec)
    series = _presence_series(spec) | {_series(s) for slo in spec.slos for s, _ in slo.sli.samples}
    names = [burn_alert_name(p.severity, p.speed) for p in spec.windows.pairs] + [ALERT_NO_DATA]
    return {
        "name": "zero traffic: no alert fires",
        "interval": format_window(step),
        "input_series": [
            {"series": _series_text(s), "values": f"0x{eval_s // step}"} for s in sorted(series)
        ],
        "alert_rule_test": [_alert_test(eval_s, name, ()) for name in names],
    }
