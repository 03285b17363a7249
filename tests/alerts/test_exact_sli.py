"""The period SLI is computed from exact event counts, not averaged 5-minute ratios.

Spiky synthetic traffic over 30 days: every hour, eleven quiet 5-minute steps of 300
requests with 10 % failing, then one spike of 30,000 requests with 0.1 % failing. The
true error ratio of the month is the failed requests over all requests (~1.08 %); the
average of the 5-minute ratios (what some generators record as the 30-day SLI) weighs
each quiet step like the spike and says ~9.2 %, eight times too high.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import yaml

from alerts import generate_files
from tests.alerts.plans import plan_with, run_tool

STEP_S = 300
STEPS = 30 * 24 * 12  # 30 days of 5-minute steps
QUIET = (270, 30)  # ok, failed requests in a quiet step
SPIKE = (29_970, 30)  # ... in the spike that ends every hour


def _increments() -> list[tuple[int, int]]:
    return [SPIKE if step % 12 == 0 else QUIET for step in range(1, STEPS + 1)]


def _cumulative(values: list[int]) -> str:
    total, out = 0, ["0"]
    for value in values:
        total += value
        out.append(str(total))
    return " ".join(out)


def true_ratio() -> float:
    steps = _increments()
    failed = sum(f for _, f in steps)
    return failed / sum(ok + f for ok, f in steps)


def averaged_ratio() -> float:
    """The mean of the recorded 5-minute ratios (one per 5-minute evaluation)."""
    return statistics.fmean(f / (ok + f) for ok, f in _increments())


def test_the_spiky_traffic_makes_the_two_figures_differ_eightfold() -> None:
    assert round(true_ratio(), 5) == 0.01081
    assert round(averaged_ratio(), 5) == 0.09175
    assert averaged_ratio() / true_ratio() > 8


def _generated_rules() -> dict[str, str]:
    """The generated SLI rules of a one-SLO plan (30-day windows), by record name."""
    plan = plan_with("    - {id: errors, kind: error_ratio, max: 0.01}\n", name="spiky")
    rules = yaml.safe_load(generate_files(plan)["spiky.rules.yaml"])
    (group,) = rules["groups"]
    return {rule["record"]: rule["expr"] for rule in group["rules"] if "record" in rule}


def test_promtool_finds_the_exact_period_sli_equal_to_the_true_ratio(tmp_path: Path) -> None:
    generated = _generated_rules()
    exact = generated["peakops:slo_sli_error:ratio_rate30d"]
    assert "increase(" in exact and "avg_over_time" not in exact
    # Only the 5-minute SLI is evaluated every 5 minutes for a month (the biased average
    # reads its samples); the generated 30-day expression is evaluated once, at the end.
    five = "peakops:slo_sli_error:ratio_rate5m"
    rules = {"groups": [{"name": "five", "rules": [{"record": five, "expr": generated[five]}]}]}
    (tmp_path / "five.rules.yaml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    steps = _increments()
    series = 'peakops_client_requests_total{endpoint="POST /orders", outcome="%s"}'
    test = {
        "rule_files": ["five.rules.yaml"],
        "evaluation_interval": "5m",
        "tests": [
            {
                "name": "30 days of spiky traffic",
                "interval": "5m",
                "input_series": [
                    {"series": series % "ok", "values": _cumulative([ok for ok, _ in steps])},
                    {"series": series % "fail", "values": _cumulative([f for _, f in steps])},
                ],
                "promql_expr_test": [
                    {
                        "expr": exact,
                        "eval_time": "30d",
                        "exp_samples": [{"labels": "{}", "value": true_ratio()}],
                    },
                    {
                        "expr": f"abs(avg_over_time({five}[30d]) - {averaged_ratio()!r})"
                        " < bool 1e-9",
                        "eval_time": "30d",
                        "exp_samples": [{"labels": "{}", "value": 1}],
                    },
                ],
            }
        ],
    }
    (tmp_path / "spiky.tests.yaml").write_text(yaml.safe_dump(test), encoding="utf-8")
    done = run_tool("promtool", "test", "rules", "spiky.tests.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
