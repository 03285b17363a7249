"""``report.html``: the one self-contained page people read after a rehearsal.

The gate writes it after the verdict (``write_report``), and ``peakops report RUN_DIR``
rebuilds it from the verdict the gate wrote (``rebuild_report``), from any run
directory: a finished run, a failed one, one killed with SIGKILL. The page is static
HTML with inline CSS and server-drawn SVG: no script, no font, no URL, so it opens
offline and stays well under 1 MB. The verdict comes first, then chaos/deploy/rollback
outcomes, what is missing, latency, load and errors, stock, the slowest traces, an
optional baseline comparison, and the environment.

Built from the run directory alone, with no clock: the same directory gives the same
bytes, so re-gating reproduces it like the other verdict files. A section that cannot
be drawn says so in its place; it never stops the gate.
"""

from __future__ import annotations

import importlib
import json
import platform as host_platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collectors.rundir import RunDir
from rollout.report_baseline import baseline_section
from rollout.report_charts import (
    cpu_chart,
    latency_section,
    load_section,
    stock_section,
    traces_section,
)
from rollout.report_data import read_run
from rollout.report_html import esc, page, paragraph, section
from rollout.report_outcomes import outcomes_section
from rollout.report_sections import (
    environment_section,
    gaps_section,
    header_section,
    verdict_section,
)
from rollout.report_stock import read_stock
from rollout.report_traces import read_traces
from slo.conventions import STORE_OFFLINE
from slo.errors import PeakopsError
from slo.plan import Plan
from slo.runfiles import REPORT_FILE, VERDICT_FILE
from slo.verdict import Verdict

if TYPE_CHECKING:
    from rollout.gate import GateResult

__all__ = [
    "SIZE_LIMIT",
    "Judged",
    "read_verdict",
    "rebuild_report",
    "render_report",
    "write_report",
]

SIZE_LIMIT = 1_000_000
"""The report must stay under 1 MB; the slowest traces' span details go first if not."""


@dataclass(frozen=True)
class Judged:
    """What the gate decided, in the JSON form of ``verdict.json``: the verdict, the
    per-endpoint figures and, when gated against a baseline, the comparison. The gate
    and ``peakops report`` both render from this form, so they write the same bytes."""

    verdict: Verdict | None
    endpoints: tuple[Mapping[str, Any], ...] = ()
    comparison: Mapping[str, Any] | None = None
    problem: str = ""
    """Why there is no verdict, or what else the reader should know first."""


def write_report(
    run: RunDir, plan: Plan, result: GateResult, *, baseline: RunDir | None = None
) -> Path:
    """Write ``report.html`` for a verdict the gate just reached; returns its path."""
    data = result.to_dict(with_path=False)
    judged = Judged(result.verdict, tuple(data["endpoints"]), data.get("baseline"))
    if baseline is not None and judged.comparison is None:
        judged = replace(judged, **_compared(run, baseline, plan))
    run.write_text(REPORT_FILE, render_report(run, plan, judged))
    return run.file(REPORT_FILE)


def rebuild_report(
    run: RunDir, plan: Plan | None, *, baseline: RunDir | None = None, problem: str = ""
) -> Path:
    """Rewrite ``report.html`` from the run's ``verdict.json`` (without one, the report
    says why; ``problem`` adds what the caller knows)."""
    judged = read_verdict(run)
    if problem:
        judged = replace(judged, problem="; ".join(p for p in (problem, judged.problem) if p))
    if baseline is not None:
        judged = replace(judged, **_compared(run, baseline, plan))
    run.write_text(REPORT_FILE, render_report(run, plan, judged))
    return run.file(REPORT_FILE)


def read_verdict(run: RunDir) -> Judged:
    """What ``verdict.json`` says, or why it says nothing (missing, unreadable)."""
    path = run.file(VERDICT_FILE)
    if not path.exists():
        return Judged(None, problem=f"{VERDICT_FILE} is missing: the run was never gated")
    try:
        data = json.loads(path.read_bytes())
        verdict = Verdict.from_dict(data)
        endpoints = tuple(dict(e) for e in data.get("endpoints") or [] if isinstance(e, dict))
        comparison = data.get("baseline") if isinstance(data.get("baseline"), dict) else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as err:
        why = f"{VERDICT_FILE} is unreadable ({type(err).__name__}: {err})"
        return Judged(None, problem=why)
    return Judged(verdict, endpoints, comparison)


def _compared(run: RunDir, baseline: RunDir, plan: Plan | None) -> dict[str, Any]:
    """``rollout.baseline.compare_runs`` (imported when asked for), in JSON form, or why
    there is no comparison (``Judged`` fields to replace)."""
    try:
        module: Any = importlib.import_module("rollout.baseline")
        compare = module.compare_runs
    except (ImportError, AttributeError):
        return {"comparison": {"unavailable": "this peakops has no baseline comparison"}}
    if plan is None:
        return {"comparison": {"unavailable": "the run's plan could not be read"}}
    try:
        return {"comparison": compare(run, baseline, plan).to_dict()}
    except PeakopsError as err:
        return {"comparison": {"unavailable": str(err)}}


def render_report(run: RunDir, plan: Plan | None, judged: Judged) -> str:
    """The whole page, as text (no I/O besides reading the run directory)."""
    try:
        return _render(run, plan, judged)
    except Exception as err:  # a bug here must not cost the gate its verdict: say it
        why = f"the report could not be drawn: {type(err).__name__}: {err}"
        return page(f"peakops report {run.run_id}", [verdict_section(judged.verdict, plan, why)])


def _render(run: RunDir, plan: Plan | None, judged: Judged) -> str:
    experiments = tuple(step.experiment for step in plan.chaos) if plan is not None else ()
    data = read_run(run, experiments)
    stores = plan is not None and (
        plan.target.stores > 0 or any(s.experiment == STORE_OFFLINE for s in plan.chaos)
    )
    stock = read_stock(run, data.timeline, data.origin, data.bucket_s, stores_expected=stores)
    verdict = judged.verdict
    sections: list[tuple[str, Callable[[], str]]] = [
        ("header", lambda: header_section(data, plan, verdict)),
        ("verdict", lambda: verdict_section(verdict, plan, judged.problem)),
        ("outcomes", lambda: outcomes_section(data, plan)),
        ("missing data", lambda: gaps_section([*data.gaps, *stock.gaps])),
        ("latency", lambda: latency_section(data, plan, judged.endpoints)),
        ("load", lambda: load_section(data)),
        ("stock", lambda: stock_section(stock, data)),
        ("traces", lambda: traces_section(read_traces(run), data)),
        ("baseline", lambda: baseline_section(judged.comparison)),
        ("environment", lambda: environment_section(data, plan, _versions(), cpu_chart(data))),
    ]
    body = [_drawn(name, build) for name, build in sections]
    title = f"peakops report {data.run_id}"
    text = page(title, body)
    if len(text.encode()) > SIZE_LIMIT:  # a pathological run: drop the biggest part
        body[7] = section(
            "traces",
            "Slowest requests",
            [paragraph("Left out: the report would pass 1 MB with them (see traces.jsonl).")],
        )
        text = page(title, body)
    return text


def _drawn(name: str, build: Callable[[], str]) -> str:
    """``build()``, or a section saying why it could not be drawn: the report never
    stops on one part, and a bug in it never costs the gate its verdict."""
    try:
        return build()
    except Exception as err:
        why = f"{type(err).__name__}: {err}"
        return section(
            name.replace(" ", "-"),
            name.capitalize(),
            [f'<div class="warn">This section could not be drawn: {esc(why)}</div>'],
        )


def _versions() -> dict[str, str]:
    """The versions that shaped the figures (installed packages, not the clock)."""
    found = {"python": host_platform.python_version()}
    for package in ("peakops", "locust", "chaostoolkit-lib"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found
