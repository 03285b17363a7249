"""The stop condition and the metric probes: burns measured, no data said, never a fake 0.

The live metrics are a small HTTP server on 127.0.0.1 (:mod:`tests.chaos.livepages`);
the window's sleep is a fake that advances a fake clock, so nothing waits real time.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from chaoslib.hypothesis import within_tolerance

from chaos import live, probes
from chaos.catalog import experiment_path
from chaos.settings import parse_settings
from chaos.stop_condition import stop_on_burn
from slo.conventions import ENDPOINT_PLACE_ORDER
from slo.errors import UsageError
from tests.chaos.livepages import Growth, page, serve, serve_pages

P99_250MS = {"peakops_latency_threshold_ms": 250, "peakops_latency_percentile": 99}


class FakeTime:
    """A clock and a sleep that advances it."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def watch(conf: dict[str, Any], duration_s: float = 3.0) -> tuple[dict[str, Any], list[bool]]:
    """Run ``stop_on_burn`` with 1 s windows on fake time; (its result, the halts)."""
    halts: list[bool] = []
    fake = FakeTime()
    result = stop_on_burn(
        duration_s, window_s=1, name="network-slow", configuration=conf,
        halt=lambda: halts.append(True), clock=fake.clock, sleep=fake.sleep,
    )  # fmt: skip
    return result, halts


def slow(share: float, n: int = 1000, above_s: float = 0.3) -> Growth:
    """``n`` POST /orders requests, ``share`` of them taking ``above_s``, the rest 20 ms."""
    slow_n = round(n * share)
    return Growth(ok=n, latencies={0.02: n - slow_n, above_s: slow_n})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------ no data


def test_without_a_metrics_url_nothing_is_watched_and_no_burn_is_reported() -> None:
    result, halts = watch({})
    assert result == {
        "watched": False, "halted": False, "burns": ["error"], "windows": 0,
        "windows_without_data": 0, "worst_error_burn": None, "worst_latency_burn": None,
        "no_data": [live.NO_METRICS_URL],
    }  # fmt: skip
    assert halts == []


def test_a_flood_that_reports_no_requests_gives_windows_without_data_and_no_burn() -> None:
    with serve(Growth()) as url:
        result, halts = watch({"peakops_metrics_url": url, **P99_250MS})
    assert halts == []
    assert result["watched"] is True and result["halted"] is False
    assert (result["windows"], result["windows_without_data"]) == (3, 3)
    assert result["worst_error_burn"] is None and result["worst_latency_burn"] is None
    assert "no requests in the last 1 s" in result["no_data"]


def test_unreadable_metrics_are_windows_without_data_not_a_burn_of_zero() -> None:
    result, halts = watch({"peakops_metrics_url": f"http://127.0.0.1:{free_port()}/metrics"})
    assert halts == [] and result["watched"] is True
    assert (result["windows"], result["windows_without_data"]) == (3, 3)
    assert result["worst_error_burn"] is None
    assert result["no_data"][0].startswith("cannot read the live metrics at")


def test_a_quiet_endpoint_leaves_the_latency_burn_unmeasured_but_the_error_burn_measured() -> None:
    with serve(Growth(ok=100, endpoint="GET /stock/{sku}")) as url:
        result, _ = watch({"peakops_metrics_url": url, **P99_250MS})
    assert result["worst_error_burn"] == 0.0  # measured: 100 requests, none failed
    assert result["worst_latency_burn"] is None
    assert result["windows_without_data"] == 3
    assert result["no_data"] == [f"no {ENDPOINT_PLACE_ORDER} requests in the last 1 s"]


# ------------------------------------------------------------------ latency burn


def test_twenty_percent_slow_orders_burn_a_p99_budget_20x_and_halt_at_14_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    conf = {**P99_250MS, "peakops_stop_burn_rate": 14.4, "peakops_events_file": str(events)}
    with serve(slow(0.20)) as url:
        result, halts = watch({"peakops_metrics_url": url, **conf})
    assert halts == [True]
    assert result["halted"] is True and result["burn"] == "latency"
    assert result["burn_rate"] == 20.0 and result["latency_burn"] == 20.0
    assert result["slow_share"] == 0.2 and result["error_burn"] == 0.0
    assert (result["windows"], result["windows_without_data"]) == (1, 0)
    (halted,) = [json.loads(line) for line in events.read_text().splitlines()]
    assert halted["type"] == "chaos_halted" and halted["fault"] == "network-slow"
    assert (halted["burn"], halted["burn_rate"], halted["stop_burn_rate"]) == (
        "latency",
        20.0,
        14.4,
    )
    assert (halted["latency_threshold_ms"], halted["slow_above_ms"]) == (250, 250.0)
    out = capsys.readouterr().out
    assert out == (
        "stop condition: latency burn 20.0x (stop at 14.4x): 20.00% of POST /orders requests "
        "slower than 250 ms over 1 s, against the 1.00% a p99 < 250 ms allows: halting, "
        "rolling back\n"
    )


def test_half_a_percent_slow_orders_burn_half_the_budget_and_do_not_halt() -> None:
    with serve(slow(0.005)) as url:
        result, halts = watch({"peakops_metrics_url": url, **P99_250MS})
    assert halts == []
    assert result == {
        "watched": True, "halted": False, "burns": ["error", "latency"], "windows": 3,
        "windows_without_data": 0, "worst_error_burn": 0.0, "worst_latency_burn": 0.5,
    }  # fmt: skip


def test_a_burn_exactly_at_the_stop_rate_halts() -> None:
    with serve(slow(0.144)) as url:  # 14.4 % slow of a 1 % allowance: 14.4x
        result, halts = watch({"peakops_metrics_url": url, **P99_250MS})
    assert halts == [True] and (result["burn"], result["burn_rate"]) == ("latency", 14.4)


def test_without_a_latency_slo_only_the_error_burn_is_watched() -> None:
    with serve(slow(0.5)) as url:
        result, halts = watch({"peakops_metrics_url": url})
    assert halts == [] and result["burns"] == ["error"]
    assert result["worst_latency_burn"] is None and result["windows_without_data"] == 0


def test_the_error_burn_still_halts_and_the_event_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    conf = {"peakops_error_budget": 0.02, "peakops_events_file": str(events), **P99_250MS}
    with serve(Growth(ok=50, fail=50, latencies={0.02: 100})) as url:
        result, halts = watch({"peakops_metrics_url": url, **conf})
    assert halts == [True]
    assert (result["burn"], result["burn_rate"], result["error_ratio"]) == ("error", 25.0, 0.5)
    assert result["latency_burn"] == 0.0
    assert json.loads(events.read_text())["burn"] == "error"
    assert capsys.readouterr().out == (
        "stop condition: error burn 25.0x (stop at 14.4x): error ratio 50.00% over 1 s, against "
        "a 2.00% error budget: halting, rolling back\n"
    )


def test_when_both_burns_trip_the_halt_names_the_larger(capsys: pytest.CaptureFixture[str]) -> None:
    # At a stop rate of 4: 10 % failed burns a 2 % budget 5x; 30 % slow burns a p99 30x.
    growth = Growth(ok=90, fail=10, latencies={0.02: 70, 0.6: 30})
    conf = {"peakops_stop_burn_rate": 4, **P99_250MS, "peakops_latency_threshold_ms": 300}
    with serve(growth) as url:
        result, _ = watch({"peakops_metrics_url": url, **conf})
    assert (result["burn"], result["burn_rate"], result["error_burn"]) == ("latency", 30.0, 5.0)
    assert result["slow_above_ms"] == 500.0  # 300 ms lies between the 250 and 500 ms bounds
    assert "slower than 500 ms (the first bucket bound at or above 300 ms)" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("threshold_ms", "latency_s", "slow_share"),
    [
        pytest.param(250, 0.3, 1.0, id="a threshold on a bucket bound counts what is above it"),
        pytest.param(250, 0.25, 0.0, id="a request on the bound itself is not slow"),
        pytest.param(
            300, 0.4, 0.0,
            id="300 ms lies between 250 and 500: a 400 ms request might be fast enough",
        ),
        pytest.param(300, 0.6, 1.0, id="300 ms: a request above the next bound (500 ms) is slow"),
        pytest.param(2.5, 0.003, 1.0, id="a small bound is matched despite float noise"),
    ],
)  # fmt: skip
def test_slow_counts_only_above_the_first_bucket_bound_at_or_above_the_threshold(
    threshold_ms: float, latency_s: float, slow_share: float
) -> None:
    with serve(Growth(ok=10, latencies={latency_s: 10})) as url:
        window = live.read_window(parse_settings({"peakops_metrics_url": url}), 1, sleep=noop)
    reading = live.slow_share_in(window, ENDPOINT_PLACE_ORDER, threshold_ms)
    assert (reading.value, reading.requests) == (slow_share, 10)


def test_a_threshold_above_every_bucket_bound_is_no_data_not_zero_slow() -> None:
    with serve(Growth(ok=10, latencies={0.02: 10})) as url:
        window = live.read_window(parse_settings({"peakops_metrics_url": url}), 1, sleep=noop)
    reading = live.slow_share_in(window, ENDPOINT_PLACE_ORDER, 60_000)
    assert reading.value is None and "no latency bucket at or above 60000 ms" in reading.no_data


def test_counters_that_go_back_a_restarted_load_process_are_no_data() -> None:
    growth = Growth(ok=10, latencies={0.02: 10})
    with serve_pages([page(growth, 5), page(growth, 1)]) as url:
        window = live.read_window(parse_settings({"peakops_metrics_url": url}), 1, sleep=noop)
    assert "went back" in window.no_data
    reading = live.error_ratio_in(window)
    assert (reading.value, reading.data) == (None, "missing")


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        pytest.param({"peakops_latency_threshold_ms": 250}, "peakops_latency_percentile: needed",
                     id="a threshold without a percentile"),
        pytest.param({"peakops_latency_percentile": 99}, "peakops_latency_threshold_ms: needed",
                     id="a percentile without a threshold"),
        pytest.param({**P99_250MS, "peakops_latency_percentile": 100},
                     "peakops_latency_percentile: expected", id="a percentile of 100"),
        pytest.param({**P99_250MS, "peakops_latency_threshold_ms": "0"},
                     "peakops_latency_threshold_ms: expected", id="a zero threshold"),
    ],
)  # fmt: skip
def test_the_latency_settings_are_refused_when_incomplete_or_out_of_range(
    conf: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        parse_settings(conf)


def test_the_latency_settings_default_to_post_orders_and_empty_means_absent() -> None:
    settings = parse_settings({**P99_250MS, "peakops_latency_endpoint": ""})
    assert settings.latency_endpoint == ENDPOINT_PLACE_ORDER
    assert settings.latency_allowance == pytest.approx(0.01)
    absent = parse_settings({"peakops_latency_threshold_ms": "", "peakops_latency_percentile": ""})
    assert absent.latency_allowance is None


# ----------------------------------------------------------- hypothesis probes


def noop(_seconds: float) -> None:
    pass


def tolerance(experiment: str, probe: str) -> Any:
    hypothesis = json.loads(experiment_path(experiment).read_text())["steady-state-hypothesis"]
    (found,) = [p for p in hypothesis["probes"] if p["provider"]["func"] == probe]
    return found["tolerance"]


def test_a_measured_error_ratio_is_judged_by_the_experiments_tolerance() -> None:
    with serve(Growth(ok=97, fail=3, latencies={0.02: 100})) as url:
        conf = {"peakops_metrics_url": url}
        ratio = probes.error_ratio(window_s=2, configuration=conf, sleep=noop)
        p99 = probes.order_p99_ms(window_s=2, configuration=conf, sleep=noop)
    assert ratio == {"measure": "error_ratio", "data": "measured", "value": 0.03,
                     "requests": 100, "window_s": 2.0}  # fmt: skip
    assert p99["value"] == 25.0 and p99["data"] == "measured"
    assert within_tolerance(tolerance("network-cut", "error_ratio"), ratio)
    assert within_tolerance(tolerance("network-slow", "order_p99_ms"), p99)


def test_a_flood_with_no_requests_fails_the_hypothesis_instead_of_passing_it() -> None:
    with serve(Growth()) as url:
        conf = {"peakops_metrics_url": url}
        ratio = probes.error_ratio(window_s=2, configuration=conf, sleep=noop)
        p99 = probes.order_p99_ms(window_s=2, configuration=conf, sleep=noop)
    assert ratio["data"] == "missing" and ratio["value"] is None
    assert ratio["no_data"] == "no requests in the last 2 s"
    assert p99["data"] == "missing" and p99["value"] is None
    assert not within_tolerance(tolerance("network-cut", "error_ratio"), ratio)
    assert not within_tolerance(tolerance("network-slow", "order_p99_ms"), p99)


def test_unreadable_metrics_fail_the_hypothesis() -> None:
    conf = {"peakops_metrics_url": f"http://127.0.0.1:{free_port()}/metrics"}
    ratio = probes.error_ratio(window_s=2, configuration=conf, sleep=noop)
    assert ratio["data"] == "missing" and "cannot read the live metrics" in ratio["no_data"]
    assert not within_tolerance(tolerance("kill-replica", "error_ratio"), ratio)


def test_without_a_metrics_url_the_probe_says_unconfigured_and_the_hypothesis_is_not_judged() -> (
    None
):
    ratio = probes.error_ratio(configuration={}, sleep=noop)
    assert ratio == {"measure": "error_ratio", "data": "unconfigured", "value": None,
                     "requests": 0, "window_s": 3.0, "no_data": live.NO_METRICS_URL}  # fmt: skip
    assert within_tolerance(tolerance("kill-replica", "error_ratio"), ratio)


def test_a_metrics_url_off_loopback_is_refused() -> None:
    with pytest.raises(UsageError, match="127"):
        probes.error_ratio(configuration={"peakops_metrics_url": "http://10.0.0.1/metrics"})


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        pytest.param({"data": "measured", "value": 0.05}, True, id="measured, on the bound"),
        pytest.param({"data": "measured", "value": 0.06}, False, id="measured, above"),
        pytest.param({"data": "missing", "value": None}, False, id="missing data"),
        pytest.param({"data": "unconfigured", "value": None}, True, id="unconfigured"),
        pytest.param(0.0, False, id="a bare number (not a metric probe's output)"),
    ],
)
def test_measured_within_accepts_only_measured_figures_in_bounds(
    value: Any, accepted: bool
) -> None:
    assert probes.measured_within(value, lower=0.0, upper=0.05) is accepted
