"""The load process's records as the gate reads them: ``latency.jsonl`` and ``load.jsonl``.

Each record is checked once, as it is read (``collectors.jsonl`` field checks), and
comes back as a dict of typed values: every field a reader uses is present with its
type (counts whole and not negative, times and durations finite, names valid text), so
nothing downstream meets a string where it adds numbers. Fields the gate does not read
pass through unchecked. A record that does not fit is a ``RunDirError`` naming file,
line, field and value. Histograms are decoded where they are merged (decoding twice
would double the gate's cost on a long run); ``bad_histogram`` then names the record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from collectors.jsonl import (
    RecordError,
    count,
    number,
    parse_jsonl,
    shown,
    text,
    unix_time,
)
from collectors.latency import decode_histogram
from collectors.rundir import RunDir
from slo.errors import RunDirError
from slo.runfiles import LATENCY_FILE, LOAD_FILE

__all__ = [
    "Located",
    "bad_histogram",
    "parse_latency",
    "parse_load",
    "read_latency",
    "read_load",
]

Record = dict[str, Any]
Located = tuple[str, Record]
"""A checked record and where it was read (``file:line``)."""

_MAX_INTERVAL_S = 3600.0
_HISTOGRAMS = ("hist", "hist_fail")


def parse_latency(record: Mapping[str, Any], where: str = "") -> Record:
    """One ``latency.jsonl`` record, checked (docs/run-directory.md)."""
    checked = dict(record)
    checked.update(
        endpoint=_name(record, "endpoint"),
        t=unix_time(record, "t"),
        interval_s=number(record, "interval_s", above=0.0, maximum=_MAX_INTERVAL_S),
        ok=count(record, "ok"),
        fail=count(record, "fail"),
        hist=text(record, "hist", max_length=None),
    )
    if "hist_fail" in record:
        checked["hist_fail"] = text(record, "hist_fail", max_length=None)
    if "errors" in record:
        checked["errors"] = _per_name(record, "errors", whole=True)
    if "source" in record:
        checked["source"] = text(record, "source")
    return checked


def parse_load(record: Mapping[str, Any], where: str = "") -> Record:
    """One ``load.jsonl`` record, checked (docs/run-directory.md)."""
    checked = dict(record)
    checked.update(
        t=unix_time(record, "t"),
        source=text(record, "source", ""),
        arrivals_planned=number(record, "arrivals_planned", minimum=0.0),
        arrivals_sent=count(record, "arrivals_sent"),
        arrivals_dropped=count(record, "arrivals_dropped"),
        cpu_percent=number(record, "cpu_percent", minimum=0.0),
        planned=_per_name(record, "planned", whole=False),
    )
    if "interval_s" in record:
        checked["interval_s"] = number(record, "interval_s", above=0.0, maximum=_MAX_INTERVAL_S)
    return checked


def read_latency(run: RunDir) -> list[Located]:
    """Every record of ``latency.jsonl``, checked, with where it was read."""
    return list(parse_jsonl(run.file(LATENCY_FILE), _located_latency))


def read_load(run: RunDir) -> list[Record]:
    """Every record of ``load.jsonl``, checked."""
    return list(parse_jsonl(run.file(LOAD_FILE), parse_load))


def bad_histogram(records: Iterable[Located], err: ValueError) -> RunDirError:
    """The error for a histogram that would not decode: names the first bad record."""
    for where, record in records:
        for key in _HISTOGRAMS:
            if key in record:
                try:
                    decode_histogram(record[key])
                except ValueError as bad:
                    return RunDirError(f"{where}: field {key!r}: {bad}")
    return RunDirError(f"{LATENCY_FILE}: {err}")


def _located_latency(record: Mapping[str, Any], where: str) -> Located:
    return where, parse_latency(record, where)


def _name(record: Mapping[str, Any], field: str) -> str:
    """An endpoint or reason name: printable text, at most 200 characters."""
    name = text(record, field)
    if not name.strip() or len(name) > 200 or not name.isprintable():
        raise RecordError(
            f"field {field!r}: expected a name like 'POST /orders', got {shown(name)}"
        )
    return name


def _per_name(record: Mapping[str, Any], field: str, whole: bool) -> dict[str, Any]:
    """An object of names to counts (``whole``) or numbers, e.g. ``errors``, ``planned``."""
    value = record.get(field, {})
    if not isinstance(value, dict):
        raise RecordError(f"field {field!r}: expected an object, got {shown(value)}")
    out: dict[str, Any] = {}
    for name, figure in value.items():
        one = {name: figure}
        try:
            key = _name({field: name}, field)
            out[key] = count(one, name) if whole else number(one, name, minimum=0.0)
        except RecordError as err:
            raise RecordError(f"field {field!r}: {err}") from err
    return out
