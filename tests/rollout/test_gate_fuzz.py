"""A hostile run directory never crashes the gate: seeded corruptions of a complete run.

Each case copies one small, complete run directory (tests/rollout/synthetic.py, written
by the real writers, which the gate passes), corrupts it one way, and judges it as
``peakops gate`` does. The gate must return a verdict or raise ``RunDirError`` naming a
file (``PlanError`` naming run.json for a plan snapshot that is not a plan); nothing
else. A run missing its latency or its timeline never passes; a torn last line is
skipped (never an error); a torn line elsewhere is an error naming file and line. Every
seventh case also goes through the CLI (``gate -o json`` and ``drift -o json``).
"""

from __future__ import annotations

import base64
import json
import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from collectors.rundir import RunDir
from rollout.gate import gate_run, plan_of_run
from slo.errors import PlanError, RunDirError
from slo.runfiles import (
    CHAOS_HANDLE_FILE,
    DRIFT_FILE,
    EVENTS_FILE,
    HEADER_FILE,
    JUNIT_FILE,
    LATENCY_FILE,
    LEDGER_FILE,
    LOAD_FILE,
    RECONCILE_FILE,
    STOCK_FILE,
    STORES_FILE,
    SUMMARY_FILE,
    VERDICT_FILE,
)
from tests.rollout.synthetic import JOURNAL, write_run

SEED = 20261122
STREAMS = (EVENTS_FILE, LATENCY_FILE, LOAD_FILE, LEDGER_FILE, STOCK_FILE, STORES_FILE)
INPUTS = (HEADER_FILE, *STREAMS, JOURNAL, CHAOS_HANDLE_FILE)
OUTPUTS = (VERDICT_FILE, JUNIT_FILE, SUMMARY_FILE, DRIFT_FILE, RECONCILE_FILE)
VITAL = (EVENTS_FILE, LATENCY_FILE)
"""Without one of these a run must never pass."""

# A bad value for any field: wrong types, empty, huge, not finite, negative, markup.
VALUES: tuple[Any, ...] = (
    "x", None, True, -1, -5e9, 1.5, [], {}, 1e300, float("nan"), float("inf"),
    float("-inf"), 10**30, "", "[/bold]", "\ud800",
)  # fmt: skip

# The fields each reader uses, per file, and which record (by its "type" or "kind").
FIELDS: dict[str, list[tuple[str | None, str]]] = {
    LATENCY_FILE: [(None, f) for f in ("endpoint", "t", "interval_s", "ok", "fail", "source",
                                       "hist", "hist_fail", "errors")],
    LOAD_FILE: [(None, f) for f in ("t", "interval_s", "source", "arrivals_planned",
                                    "arrivals_sent", "arrivals_dropped", "cpu_percent",
                                    "planned")],
    EVENTS_FILE: [
        ("load_started", "ts"), ("load_started", "type"), ("fault_started", "id"),
        ("fault_started", "fault"), ("fault_started", "expires_ts"), ("fault_started", "ts"),
        ("fault_stopped", "id"), ("fault_stopped", "ts"), ("chaos_started", "index"),
        ("chaos_started", "experiment"), ("chaos_finished", "exit_code"),
        ("load_finished", "interrupted"), ("load_finished", "ts"),
        ("probes_finished", "probe_reads"), ("unknown_resolved", "unknown"),
    ],
    LEDGER_FILE: [(None, f) for f in ("op", "type", "key", "sku", "qty", "channel", "t",
                                      "phase", "order_id", "location", "ok")],
    STOCK_FILE: [(None, f) for f in ("t", "t0", "kind", "sku", "location", "channel",
                                     "available", "on_hand", "phase")],
    STORES_FILE: [(None, f) for f in ("t", "store", "pending", "pending_units",
                                      "last_drained_at", "error")],
}  # fmt: skip


@dataclass(frozen=True)
class Corruption:
    what: str
    apply: Callable[[Path], None]
    vital: bool = False  # the run lost its latency or its timeline: never a pass
    torn_last: bool = False  # must be skipped: a verdict, never an error
    bad_line: str | None = None  # must be an error naming this ``file:line``

    def __str__(self) -> str:
        return self.what


# -- how to corrupt -----------------------------------------------------------------------


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _set_line(name: str, index: int, line: bytes) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        lines = _lines(run / name)
        lines[index] = line
        (run / name).write_bytes(b"".join(lines))

    return apply


def _edit_record(
    name: str, kind: str | None, change: Callable[[dict[str, Any]], None]
) -> Callable[[Path], None]:
    """Change the first record of ``name`` (of that type or kind, when given)."""

    def apply(run: Path) -> None:
        lines = _lines(run / name)
        for index, raw in enumerate(lines):
            record = json.loads(raw)
            if kind is None or kind in (record.get("type"), record.get("kind")):
                change(record)
                lines[index] = json.dumps(record).encode() + b"\n"
                break
        (run / name).write_bytes(b"".join(lines))

    return apply


def _setter(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda record: record.__setitem__(key, value)


def _dropper(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda record: record.pop(key, None)


def _delete(name: str) -> Callable[[Path], None]:
    return lambda run: (run / name).unlink()


def _empty(name: str) -> Callable[[Path], None]:
    return lambda run: (run / name).write_bytes(b"")


def _directory(name: str) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        if (run / name).exists():
            (run / name).unlink()
        (run / name).mkdir()

    return apply


def _header(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        header = json.loads((run / HEADER_FILE).read_text())
        result = change(header)
        (run / HEADER_FILE).write_text(json.dumps(header if result is None else result))

    return apply


def _journal(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    """Change the journal of a run whose events.jsonl lost its fault lines (so it is read)."""

    def apply(run: Path) -> None:
        _without_fault_events(run)
        journal = json.loads((run / JOURNAL).read_text())
        result = change(journal)
        (run / JOURNAL).write_text(json.dumps(journal if result is None else result))

    return apply


def _without_fault_events(run: Path) -> None:
    kept = [raw for raw in _lines(run / EVENTS_FILE) if b'"fault_' not in raw]
    (run / EVENTS_FILE).write_bytes(b"".join(kept))


def _both(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        for step in steps:
            step(run)

    return apply


def _histogram(highest: int) -> str:
    from hdrh.histogram import HdrHistogram

    other = HdrHistogram(1, highest, 2)
    other.record_value(5)
    return str(other.encode().decode())


# -- the corruptions ----------------------------------------------------------------------


def corruptions() -> list[Corruption]:
    rng = random.Random(SEED)
    found: list[Corruption] = []
    add = found.append
    for name in INPUTS:
        vital = name in VITAL or name == HEADER_FILE
        add(Corruption(f"{name} deleted", _delete(name), vital))
        add(Corruption(f"{name} empty", _empty(name), vital))
        add(Corruption(f"a directory where {name} should be", _directory(name), vital))
    for name in OUTPUTS:
        add(Corruption(f"a directory where the gate writes {name}", _directory(name)))
    for name in STREAMS:
        for cut in (1, 7, 25):
            add(Corruption(f"{name}: last line torn {cut} bytes in",
                           _torn_last(name, cut), torn_last=True))  # fmt: skip
        add(Corruption(f"{name}: line 2 torn mid-record", _torn(name, 1), bad_line=f"{name}:2"))
        junk = bytes(rng.randrange(256) for _ in range(24)) + b"\n"
        add(Corruption(f"{name}: garbage bytes for line 2 {junk[:8]!r}",
                       _set_line(name, 1, junk), bad_line=f"{name}:2"))  # fmt: skip
        add(Corruption(f"{name}: garbage bytes as a last line without newline",
                       _appended(name, bytes(rng.randrange(256) for _ in range(30))),
                       torn_last=True))  # fmt: skip
        add(Corruption(f"{name}: non-UTF-8 inside a string of line 1", _non_utf8(name)))
        add(Corruption(f"{name}: line 1 is a JSON list", _set_line(name, 0, b"[1, 2]\n"),
                       bad_line=f"{name}:1"))  # fmt: skip
        add(Corruption(f"{name}: huge number in line 1", _set_line(name, 0, b'{"t": 1e999}\n')))
        deep = _set_line(name, 0, b"[" * 100_000 + b"\n")
        add(Corruption(f"{name}: line 1 nested 100,000 deep", deep, bad_line=f"{name}:1"))
    for name, fields in FIELDS.items():
        for kind, key in fields:
            record = f"{name} ({kind})" if kind else name
            add(Corruption(f"{record}: {key} missing", _edit_record(name, kind, _dropper(key))))
            for value in rng.sample(VALUES, 2):
                add(Corruption(f"{record}: {key} = {value!r}",
                               _edit_record(name, kind, _setter(key, value))))  # fmt: skip
    for key in ("hist", "hist_fail"):
        encoded = "HISTFAAAACl4nJNpmSzMwMDAyQABzFCaEURcm7yE"
        for label, value in (
            ("not base64", "!!not-base64!!"), ("truncated", encoded[:21]),
            ("base64 of junk", base64.b64encode(b"not a histogram at all").decode()),
            ("another range", _histogram(2**40)), ("empty", ""),
        ):  # fmt: skip
            add(Corruption(f"{LATENCY_FILE}: {key} {label}",
                           _edit_record(LATENCY_FILE, None, _setter(key, value))))  # fmt: skip
    for label, change in _header_changes():
        add(Corruption(f"{HEADER_FILE}: {label}", _header(change)))
    add(Corruption(f"{HEADER_FILE}: null", _set_text(HEADER_FILE, "null")))
    add(Corruption(f"{HEADER_FILE}: nested 100,000 deep", _set_text(HEADER_FILE, "[" * 100_000)))
    add(Corruption(f"{HEADER_FILE}: not UTF-8",
                   _set_bytes(HEADER_FILE, b'{"format_version": 1, "plan": "\xff"}')))  # fmt: skip
    for label, change in _journal_changes():
        add(Corruption(f"{JOURNAL} read for want of fault events: {label}", _journal(change)))
    add(Corruption(f"{EVENTS_FILE} without fault lines, {JOURNAL} not JSON",
                   _both(_without_fault_events, _set_text(JOURNAL, '{"run": ['))))  # fmt: skip
    add(Corruption(f"{EVENTS_FILE} without fault lines, {JOURNAL} nested 100,000 deep",
                   _both(_without_fault_events, _set_text(JOURNAL, "[" * 100_000))))  # fmt: skip
    add(Corruption(f"{EVENTS_FILE} without fault lines, {JOURNAL} a directory",
                   _both(_without_fault_events, _directory(JOURNAL))))  # fmt: skip
    add(Corruption(f"{EVENTS_FILE} and {LATENCY_FILE} empty",
                   _both(_empty(EVENTS_FILE), _empty(LATENCY_FILE)), vital=True))  # fmt: skip
    add(Corruption("every stream and journal deleted",
                   _both(*(_delete(n) for n in (*STREAMS, JOURNAL))), vital=True))  # fmt: skip
    return found


def _torn_last(name: str, cut: int) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        lines = _lines(run / name)
        lines[-1] = lines[-1][:cut]
        (run / name).write_bytes(b"".join(lines))

    return apply


def _torn(name: str, index: int) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        lines = _lines(run / name)
        lines[index] = lines[index][: len(lines[index]) // 2] + b"\n"
        (run / name).write_bytes(b"".join(lines))

    return apply


def _appended(name: str, data: bytes) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        with (run / name).open("ab") as fh:
            fh.write(data.replace(b"\n", b" "))

    return apply


def _non_utf8(name: str) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        lines = _lines(run / name)
        quote = lines[0].index(b'":') + 3  # inside the first string value, or near it
        lines[0] = lines[0][:quote] + b"\xff\xfe" + lines[0][quote:]
        (run / name).write_bytes(b"".join(lines))

    return apply


def _set_text(name: str, text: str) -> Callable[[Path], None]:
    return lambda run: (run / name).write_text(text)


def _set_bytes(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda run: (run / name).write_bytes(data)


def _header_changes() -> list[tuple[str, Callable[[dict[str, Any]], Any]]]:
    def plan(change: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
        return lambda header: change(header["plan"])

    return [
        ("no plan", _dropper("plan")),
        ("plan is a string", _setter("plan", "peak.yaml")),
        ("plan is empty", _setter("plan", {})),
        ("plan without slos", plan(_dropper("slos"))),
        ("plan chaos is a string", plan(_setter("chaos", "all of it"))),
        ("plan load duration NaN", plan(lambda p: p["load"].__setitem__("duration", float("nan")))),
        ("no format_version", _dropper("format_version")),
        ("format_version true", _setter("format_version", True)),
        ("format_version '1'", _setter("format_version", "1")),
        ("format_version 1.0", _setter("format_version", 1.0)),
        ("format_version 2", _setter("format_version", 2)),
        ("a JSON list", lambda header: [header]),
        ("started_ts negative, status odd", lambda h: h.update(started_ts=-1, status=[1])),
    ]  # fmt: skip


def _journal_changes() -> list[tuple[str, Callable[[dict[str, Any]], Any]]]:
    def first(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
        return lambda journal: change(journal["run"][0])

    def output(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
        return first(lambda activity: activity["output"].__setitem__(key, value))

    return [
        ("intact", lambda journal: None),
        ("a JSON list", lambda journal: [journal]),
        ("run is a string", _setter("run", "everything")),
        ("an activity is a number", _setter("run", [5])),
        ("end is not a time", first(_setter("end", "yesterday"))),
        ("end missing", first(_dropper("end"))),
        ("end before 1970", first(_setter("end", "1900-01-01T00:00:00"))),
        ("fault id is a list", output("id", [1])),
        ("fault name is a number", output("fault", 5)),
        ("expires_ts is text", output("expires_ts", "soon")),
        ("expires_ts negative", output("expires_ts", -5)),
        ("the stop never happened", lambda journal: journal.update(run=journal["run"][:1],
                                                                   rollbacks=[])),
        ("status failed everywhere", lambda journal: [a.update(status="failed")
                                                      for a in journal["run"]] and None),
    ]  # fmt: skip


CORRUPTIONS = corruptions()
FILE_NAMES = (*INPUTS, *OUTPUTS)


# -- judging ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run, _ = write_run(tmp_path_factory.mktemp("pristine"))
    return run.path


def judge(path: Path) -> tuple[str, str]:
    """``(outcome, message)``: the verdict's status, or the error a user would see."""
    try:
        run = RunDir.open(path)
        result = gate_run(run, plan_of_run(run))
    except RunDirError as err:
        return "run-dir-error", str(err)
    except PlanError as err:
        return "plan-error", str(err)
    return result.verdict.status.value, ""


def copy(pristine: Path, target: Path, corruption: Corruption) -> Path:
    shutil.copytree(pristine, target)
    corruption.apply(target)
    return target


def test_there_are_enough_corruptions_of_every_kind() -> None:
    assert len(CORRUPTIONS) >= 200
    assert len({c.what for c in CORRUPTIONS}) == len(CORRUPTIONS)


@pytest.mark.parametrize("corruption", CORRUPTIONS, ids=str)
def test_a_corrupt_run_gets_a_verdict_or_an_error_naming_a_file(
    corruption: Corruption, pristine: Path, tmp_path: Path
) -> None:
    path = copy(pristine, tmp_path / "run", corruption)
    outcome, message = judge(path)  # any other exception fails the test with its traceback
    what = f"corruption: {corruption.what}: {outcome} {message}"
    if outcome == "run-dir-error":
        assert str(path) in message or any(name in message for name in FILE_NAMES), what
        assert "\n" not in message, what
    if outcome == "plan-error":
        assert HEADER_FILE in message, what
    if corruption.vital:
        assert outcome != "pass", what
    if corruption.torn_last:
        assert outcome not in ("run-dir-error", "plan-error"), what
    if corruption.bad_line is not None:
        assert outcome == "run-dir-error" and f"{corruption.bad_line}:" in message, what


CLI_SUBSET = CORRUPTIONS[::7]


@pytest.mark.parametrize("corruption", CLI_SUBSET, ids=str)
def test_the_cli_answers_a_corrupt_run_with_an_exit_code_and_no_traceback(
    corruption: Corruption, pristine: Path, tmp_path: Path
) -> None:
    for command in ("gate", "drift"):
        path = copy(pristine, tmp_path / command, corruption)
        done = CliRunner().invoke(app, [command, str(path), "--output", "json"])
        what = f"corruption: {corruption.what}: peakops {command}: exit {done.exit_code}"
        assert done.exception is None or isinstance(done.exception, SystemExit), (
            f"{what}: {done.exception!r}"
        )
        assert "Traceback" not in done.output, what
        if done.exit_code == 2:
            (line,) = [line for line in done.output.splitlines() if line.strip()]
            assert line.startswith("peakops: error: "), what
        else:
            assert done.exit_code in (0, 1, 4, 5), what
            verdict = json.loads(done.output)
            assert verdict["status" if command == "gate" else "verdict"], what


def outcomes() -> Iterator[tuple[Corruption, str]]:
    """Every corruption's outcome (for the figures in a report: run this module's main)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        pristine = write_run(Path(tmp) / "p")[0].path
        for index, corruption in enumerate(CORRUPTIONS):
            yield corruption, judge(copy(pristine, Path(tmp) / str(index), corruption))[0]


if __name__ == "__main__":
    from collections import Counter

    print(Counter(outcome for _, outcome in outcomes()), len(CORRUPTIONS))
