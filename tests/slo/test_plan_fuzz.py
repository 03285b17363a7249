"""Plan fuzzing: any mutation of a shipped plan loads or is a PlanError, never a crash.

Mutations are drawn with a fixed seed from the shipped plans (``peak.yaml``,
``docs/plans/*.yaml`` and the full example of ``docs/plan-file.md``): keys deleted or
added, values of the wrong type, huge, negative, NaN or infinite numbers, strings
where numbers go, empty lists, duplicated keys, bad durations, nested garbage,
truncated YAML, non-UTF-8 bytes, deep nesting. Each failure names its case id and
shows the mutated plan, so it reproduces with ``-k <id>``.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cli import app
from slo.errors import PlanError
from slo.loader import load_plan, load_plan_text
from slo.plan import Plan, plan_from_snapshot, plan_snapshot

ROOT = Path(__file__).resolve().parents[2]
SEED = 20251128
PER_SOURCE = 80
CLI_EVERY = 8  # 30 cases also go through `peakops plan validate`


@dataclass(frozen=True)
class Case:
    id: str
    what: str
    payload: str | bytes

    def shown(self) -> str:
        text = self.payload if isinstance(self.payload, str) else repr(self.payload)
        return f"mutation {self.id}: {self.what}\n--- mutated plan ---\n{text[:3000]}"


def sources() -> dict[str, str]:
    found = {"peak.yaml": (ROOT / "peak.yaml").read_text(encoding="utf-8")}
    for path in sorted((ROOT / "docs" / "plans").glob("*.yaml")):
        found[f"docs/plans/{path.name}"] = path.read_text(encoding="utf-8")
    doc = (ROOT / "docs" / "plan-file.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", doc, re.S)
    assert example is not None
    found["docs/plan-file.md"] = example.group(1)
    return found


# --- values -------------------------------------------------------------------------

HUGE = [10**9, 10**12, 10**18, 2**63, 10**30, 10**300, 1e12, 1e308, 1.7976931348623157e308]
ODD_NUMBERS = [-1, -(10**12), 0, -0.5, 0.0001, 1e-300, float("nan"), float("inf"), float("-inf")]
STRINGS = ["", "fast", "1e12", "10ms", "-5s", "null", "NaN", "∞", "x" * 500, "0x10", "1_000"]
BAD_DURATIONS = ["25Oms", "1d", "-5s", "5", "1h1h", "9999999999h", "1.5.5s", "s", "0s", "10 m"]
UNKNOWN_KEYS = ["flavour", "basline", "apiversion", "Duration", "k" * 80, "ünïcode", "1"]


def bad_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.choice(["huge", "odd", "string", "duration", "type", "garbage"])
    if kind == "huge":
        value = rng.choice(HUGE)
        return -value if rng.random() < 0.3 else value
    if kind == "odd":
        return rng.choice(ODD_NUMBERS)
    if kind == "string":
        return rng.choice(STRINGS)
    if kind == "duration":
        return rng.choice(BAD_DURATIONS)
    if kind == "type" or depth > 3:
        return rng.choice([[], {}, [1, 2], {"a": 1}, True, False, None, "text", 3, 2.5])
    return garbage(rng, depth + 1)


def garbage(rng: random.Random, depth: int) -> Any:
    """A small random structure of mixed types."""
    if rng.random() < 0.5:
        return [bad_value(rng, depth) for _ in range(rng.randint(0, 3))]
    return {rng.choice(UNKNOWN_KEYS): bad_value(rng, depth) for _ in range(rng.randint(0, 3))}


def nested(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


# --- mutations of the data ------------------------------------------------------------

Path_ = tuple[str | int, ...]


def walk(data: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    yield path, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from walk(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from walk(value, (*path, index))


def at(data: Any, path: Path_) -> Any:
    for element in path:
        data = data[element]
    return data


def mutate_data(rng: random.Random, data: Any) -> tuple[str, Any]:
    data = copy.deepcopy(data)
    nodes = list(walk(data))
    path, value = rng.choice(nodes[1:])
    parent, last = at(data, path[:-1]), path[-1]
    where = ".".join(map(str, path))
    operation = rng.choice(
        ["delete", "replace", "replace", "number", "number", "unknown key", "empty list", "deep"]
    )
    numbers = [(p, v) for p, v in nodes if isinstance(v, int | float) and not isinstance(v, bool)]
    if operation == "number" and numbers:
        path, value = rng.choice(numbers)
        new_number = rng.choice([*HUGE, *ODD_NUMBERS, "fast", "1e12", "10s"])
        if isinstance(new_number, int | float) and rng.random() < 0.3:
            new_number = -new_number
        at(data, path[:-1])[path[-1]] = new_number
        return f"number {'.'.join(map(str, path))} ({value!r}) set to {new_number!r:.40}", data
    if operation == "delete":
        del parent[last]
        return f"delete {where}", data
    if operation == "unknown key":
        holders = [(p, v) for p, v in nodes if isinstance(v, dict)]
        holder_path, holder = rng.choice(holders)
        key: Any = rng.choice(UNKNOWN_KEYS)
        key = int(key) if key.isdigit() else key
        holder[key] = bad_value(rng)
        return f"unknown key {key!r} under {'.'.join(map(str, holder_path)) or '(top)'}", data
    if operation == "empty list":
        parent[last] = []
        return f"empty list at {where}", data
    if operation == "deep":
        depth = rng.choice([10, 50, 100, 200])
        parent[last] = nested(depth)
        return f"nesting {depth} deep at {where}", data
    new = bad_value(rng)
    parent[last] = new
    return f"replace {where} ({value!r:.40}) with {new!r:.60}", data


# --- mutations of the text ------------------------------------------------------------

KEY_LINE = re.compile(r"^\s*(- )?[A-Za-z]+:", re.M)
DURATION = re.compile(r"\b\d+(?:\.\d+)?(?:ms|s|m|h)\b")
NUMBER = re.compile(r"(?<=: )-?\d+(?:\.\d+)?\b")
INSERTS = [":", "- ", "{", "[", "]", "&a ", "*a", "!!python/object/apply:os.system ['true']",
           "%", "@", "`", "|", ">", "\t", "'", '"', "#", "? ", "\\", "\u2028", "é", "\ufeff",
           "<<: *a", "!!binary aGk=", "~"]  # fmt: skip
NUMBER_TEXT = ["1e12", "-1", ".nan", ".inf", "-.inf", "0x10", "1_000", "0o17", "9" * 400,
               "1.0e400", "1e400", "'12'", "12abc", "true"]  # fmt: skip


def duplicate_key(rng: random.Random, text: str) -> tuple[str, str]:
    lines = text.splitlines(keepends=True)
    candidates = [i for i, line in enumerate(lines) if KEY_LINE.match(line)]
    index = rng.choice(candidates)
    line = lines[index]
    return f"duplicate line {index + 1} {line.strip()!r}", "".join(
        [*lines[: index + 1], line, *lines[index + 1 :]]
    )


def truncate(rng: random.Random, text: str) -> tuple[str, str]:
    cut = rng.randrange(len(text))
    return f"truncated at character {cut}", text[:cut]


def delete_line(rng: random.Random, text: str) -> tuple[str, str]:
    lines = text.splitlines(keepends=True)
    index = rng.randrange(len(lines))
    return f"delete line {index + 1}", "".join(lines[:index] + lines[index + 1 :])


def shift_indent(rng: random.Random, text: str) -> tuple[str, str]:
    lines = text.splitlines(keepends=True)
    index = rng.randrange(len(lines))
    line = lines[index]
    lines[index] = line[2:] if line.startswith("  ") and rng.random() < 0.5 else "  " + line
    return f"indent line {index + 1} changed", "".join(lines)


def insert_text(rng: random.Random, text: str) -> tuple[str, str]:
    position = rng.randrange(len(text))
    inserted = rng.choice(INSERTS)
    return f"insert {inserted!r} at {position}", text[:position] + inserted + text[position:]


def replace_token(pattern: re.Pattern[str], choices: list[str]) -> Callable[..., tuple[str, str]]:
    def mutate(rng: random.Random, text: str) -> tuple[str, str]:
        matches = list(pattern.finditer(text))
        if not matches:
            return "unchanged (no token)", text
        match = rng.choice(matches)
        new = rng.choice(choices)
        return (
            f"replace {match.group()!r} at {match.start()} with {new!r:.40}",
            text[: match.start()] + new + text[match.end() :],
        )

    return mutate


TEXT_MUTATIONS = [
    duplicate_key,
    truncate,
    delete_line,
    shift_indent,
    insert_text,
    insert_text,
    replace_token(DURATION, BAD_DURATIONS),
    replace_token(NUMBER, NUMBER_TEXT),
]
NON_UTF8 = [b"\xff", b"\xc3\x28", b"\x80", b"\xfe\xff", b"\xe9"]


def cases() -> list[Case]:
    rng = random.Random(SEED)
    found: list[Case] = []
    for name, text in sources().items():
        data = yaml.safe_load(text)
        for n in range(PER_SOURCE):
            case_id = f"{name}#{n}"
            roll = rng.random()
            if roll < 0.45:
                what, mutated = mutate_data(rng, data)
                dumped = yaml.safe_dump(mutated, sort_keys=False, allow_unicode=True)
                found.append(Case(case_id, what, dumped))
            elif roll < 0.93:
                what, changed = rng.choice(TEXT_MUTATIONS)(rng, text)
                found.append(Case(case_id, what, changed))
            else:
                raw = text.encode()
                position = rng.randrange(len(raw))
                inserted = rng.choice(NON_UTF8)
                what = f"insert bytes {inserted!r} at byte {position}"
                found.append(Case(case_id, what, raw[:position] + inserted + raw[position:]))
    return found


CASES = cases()


def load(case: Case, tmp_path: Path) -> Plan:
    if isinstance(case.payload, str):
        return load_plan_text(case.payload, "fuzz.yaml")
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(case.payload)
    return load_plan(path)


def check_plan_error(err: PlanError, case: Case) -> None:
    assert err.issues, case.shown()
    for issue in err.issues:
        assert issue.message.strip(), f"an issue without a message\n{case.shown()}"
        if issue.field:  # a field of a file always has a line
            assert issue.line is not None and issue.line >= 1, f"{issue}\n{case.shown()}"
        for noise in ("Input should", "errors.pydantic.dev", "type=", "Traceback"):
            assert noise not in issue.message, f"{issue}\n{case.shown()}"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_mutated_plan_loads_or_is_a_plan_error(case: Case, tmp_path: Path) -> None:
    try:
        plan = load(case, tmp_path)
    except PlanError as err:
        check_plan_error(err, case)
        return
    except Exception as err:  # the point of the test: say which mutation crashed
        pytest.fail(f"{type(err).__name__}: {err}\n{case.shown()}")
    # A plan that loads also survives its run.json snapshot unchanged.
    snapshot = json.loads(json.dumps(plan_snapshot(plan)))
    assert plan_from_snapshot(snapshot, "run.json") == plan, case.shown()


def test_the_fuzz_covers_enough_mutations() -> None:
    assert len(CASES) >= 200
    assert len({case.payload for case in CASES}) >= 0.9 * len(CASES)


CLI_CASES = CASES[::CLI_EVERY]


@pytest.mark.parametrize("case", CLI_CASES, ids=[case.id for case in CLI_CASES])
def test_plan_validate_exits_0_or_2_without_a_traceback(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "fuzz.yaml"
    if isinstance(case.payload, str):
        path.write_text(case.payload, encoding="utf-8")
    else:
        path.write_bytes(case.payload)
    result = CliRunner().invoke(app, ["plan", "validate", str(path)])
    assert result.exit_code in (0, 2), f"{result.output}\n{result.exception!r}\n{case.shown()}"
    assert "Traceback" not in result.output, case.shown()


# Inputs that once crashed the YAML reader (slo/yamldoc.py): each is a plan error now.
KNOWN_CRASHES = [
    pytest.param(
        "apiVersion: peakops/v1\nname: " + "[" * 1000 + "]" * 1000 + "\n",
        id="nesting 1000 deep (RecursionError in PyYAML) is a plan error",
    ),
    pytest.param(
        "apiVersion: peakops/v1\ntarget:\n  catalog: {skus: " + "9" * 5000 + "}\n",
        id="an integer of 5000 digits (past int conversion) is a plan error",
    ),
    pytest.param(
        "apiVersion: peakops/v1\nname: a\x00b\n",
        id="a NUL character (ReaderError) is a plan error",
    ),
]


@pytest.mark.parametrize("text", KNOWN_CRASHES)
def test_known_loader_crashes_are_plan_errors(text: str) -> None:
    try:
        load_plan_text(text, "fuzz.yaml")
    except PlanError:
        return
