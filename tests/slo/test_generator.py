"""The load-generator check: a saturated generator makes a run inconclusive."""

from __future__ import annotations

import pytest

from slo.evaluate import Status
from slo.generator import check_generator
from slo.objectives import LatencyObjective, Slos
from slo.stats import GeneratorStats
from slo.verdict import decide

POLICY = Slos(objectives=(LatencyObjective(id="p99", kind="latency", percentile=99,
                                           threshold_ms=250),))  # fmt: skip


def stats(planned: float = 1000, sent: int = 1000, cpu: float = 30) -> GeneratorStats:
    return GeneratorStats(planned, sent, int(planned) - sent, cpu, "load")


@pytest.mark.parametrize(
    ("generator", "status", "words"),
    [
        (stats(), Status.PASS, "sent 1000 of 1000"),
        (stats(sent=990), Status.PASS, "sent 990 of 1000"),
        (stats(sent=989), Status.INCONCLUSIVE, "sent 989 of 1000 planned arrivals (98.9%"),
        (stats(cpu=80), Status.PASS, "80% CPU"),
        (stats(cpu=80.5), Status.INCONCLUSIVE, "load used 80% CPU over 5 s (limit 80%)"),
        (stats(planned=0, sent=0), Status.PASS, "sent 0 of 0"),
    ],
    ids=[
        "everything planned was sent by an idle generator",
        "exactly 99 percent sent is enough",
        "just under 99 percent sent is inconclusive",
        "exactly the CPU limit is allowed",
        "a generator busier than the CPU limit is inconclusive",
        "nothing planned is not a saturation",
    ],
)
def test_generator_health_table(generator: GeneratorStats, status: Status, words: str) -> None:
    evaluation = check_generator(generator, POLICY)
    assert evaluation is not None
    assert evaluation.status is status
    assert words in evaluation.reason


def test_no_generator_figures_means_no_check() -> None:
    assert check_generator(None, POLICY) is None


def test_a_saturated_generator_makes_the_verdict_inconclusive_with_exit_4() -> None:
    evaluation = check_generator(stats(cpu=95), POLICY)
    assert evaluation is not None
    verdict = decide([evaluation], POLICY)
    assert verdict.status is Status.INCONCLUSIVE and verdict.exit_code == 4
