"""The domain core of peakops: the plan model and loader, SLO evaluation and verdicts.

No I/O except ``load_plan`` reading the plan file; imports nothing else of peakops.
This module only re-exports the public names of its submodules.
"""

from slo.durations import format_duration, parse_duration
from slo.errors import (
    InfraError,
    PeakopsError,
    PlanError,
    PlanIssue,
    RevertError,
    RunDirError,
    UsageError,
)
from slo.evaluate import Evaluation, Status, evaluate
from slo.exitcodes import ExitCode
from slo.loader import load_plan, load_plan_text
from slo.plan import (
    API_VERSION,
    Catalog,
    ChaosStep,
    ErrorRatioObjective,
    LatencyObjective,
    Load,
    Objective,
    Outputs,
    Plan,
    Platform,
    Rollback,
    Slos,
    Target,
    ThroughputObjective,
    plan_from_snapshot,
    plan_snapshot,
    with_overrides,
)
from slo.stats import ALL_ENDPOINTS, EndpointStats, LatencyDistribution, RunStats
from slo.verdict import Verdict, decide

__all__ = [
    "ALL_ENDPOINTS",
    "API_VERSION",
    "Catalog",
    "ChaosStep",
    "EndpointStats",
    "ErrorRatioObjective",
    "Evaluation",
    "ExitCode",
    "InfraError",
    "LatencyDistribution",
    "LatencyObjective",
    "Load",
    "Objective",
    "Outputs",
    "PeakopsError",
    "Plan",
    "PlanError",
    "PlanIssue",
    "Platform",
    "RevertError",
    "Rollback",
    "RunDirError",
    "RunStats",
    "Slos",
    "Status",
    "Target",
    "ThroughputObjective",
    "UsageError",
    "Verdict",
    "decide",
    "evaluate",
    "format_duration",
    "load_plan",
    "load_plan_text",
    "parse_duration",
    "plan_from_snapshot",
    "plan_snapshot",
    "with_overrides",
]
