"""Closed streams compressed at the end of a run, and every reader reading either form."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from collectors.compress import compress_closed, compress_file
from collectors.drift.stream import read_records
from collectors.jsonl import read_numbered, stream_file, stream_files
from collectors.rundir import RunDir
from rollout.gate import gate_run
from slo.errors import RunDirError
from slo.runfiles import (
    CLEANUP_FILE,
    DRIFT_FILE,
    EVENTS_FILE,
    JUNIT_FILE,
    LATENCY_FILE,
    LEDGER_FILE,
    LOAD_FILE,
    PROBE_DIR,
    RECONCILE_FILE,
    STOCK_FILE,
    STORES_FILE,
    SUMMARY_FILE,
    TRACES_DIR,
    VERDICT_FILE,
)
from tests.rollout.synthetic import write_run

LINES = b'{"t": 1, "n": 1}\n{"t": 2, "n": 2}\n'


def gz(path: Path, data: bytes) -> Path:
    packed = path.with_name(path.name + ".gz")
    packed.write_bytes(gzip.compress(data))
    return packed


def test_gating_a_compressed_run_writes_the_same_verdict_bytes(tmp_path: Path) -> None:
    run, plan = write_run(tmp_path)
    gate_run(run, plan)
    names = (VERDICT_FILE, JUNIT_FILE, SUMMARY_FILE, DRIFT_FILE, RECONCILE_FILE)
    before = {name: run.file(name).read_bytes() for name in names}
    done = compress_closed(run)
    assert sorted(done.files) == sorted([LATENCY_FILE, LOAD_FILE, LEDGER_FILE, STOCK_FILE,
                                         STORES_FILE])  # fmt: skip
    assert not (run.path / STOCK_FILE).exists() and (run.path / f"{STOCK_FILE}.gz").is_file()
    gate_run(run, plan)
    assert {name: run.file(name).read_bytes() for name in names} == before


def test_streams_appended_after_the_run_stay_plain_and_the_probe_run_is_compressed(
    tmp_path: Path,
) -> None:
    run = RunDir(tmp_path)
    for name in (EVENTS_FILE, CLEANUP_FILE, LEDGER_FILE, "traces-worker-1.jsonl"):
        (tmp_path / name).write_bytes(LINES)
    (tmp_path / TRACES_DIR).mkdir()
    (tmp_path / TRACES_DIR / "orders-1.jsonl").write_bytes(LINES)
    (tmp_path / PROBE_DIR).mkdir()
    (tmp_path / PROBE_DIR / LATENCY_FILE).write_bytes(LINES)
    done = compress_closed(run)
    expected = [LEDGER_FILE, f"{PROBE_DIR}/{LATENCY_FILE}", f"{TRACES_DIR}/orders-1.jsonl",
                "traces-worker-1.jsonl"]  # fmt: skip
    assert sorted(done.files) == sorted(expected)
    assert done.bytes_before == 4 * len(LINES) and done.failed == []
    assert (tmp_path / EVENTS_FILE).read_bytes() == LINES == (tmp_path / CLEANUP_FILE).read_bytes()
    assert gzip.decompress((tmp_path / f"{LEDGER_FILE}.gz").read_bytes()) == LINES
    assert [p.name for p in stream_files(tmp_path, "traces-*.jsonl")] == [
        "traces-worker-1.jsonl.gz"
    ]
    assert list(run.records(LEDGER_FILE)) == [{"t": 1, "n": 1}, {"t": 2, "n": 2}]


def test_compressing_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    path = tmp_path / STOCK_FILE
    path.write_bytes(LINES * 100)
    first = compress_file(path).read_bytes()
    path.write_bytes(LINES * 100)
    assert compress_file(path).read_bytes() == first


def test_a_stream_that_cannot_be_compressed_stays_plain_and_is_reported(tmp_path: Path) -> None:
    (tmp_path / LEDGER_FILE).write_bytes(LINES)
    (tmp_path / f"{LEDGER_FILE}.gz").mkdir()  # a directory where the .gz goes
    done = compress_closed(RunDir(tmp_path))
    assert done.files == [] and done.failed and done.failed[0].startswith(f"{LEDGER_FILE}: ")
    assert (tmp_path / LEDGER_FILE).read_bytes() == LINES
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_plain_file_left_beside_its_gz_is_the_one_read(tmp_path: Path) -> None:
    path = tmp_path / LEDGER_FILE
    gz(path, b'{"t": 9}\n')
    assert stream_file(path).name == f"{LEDGER_FILE}.gz"
    path.write_bytes(LINES)  # compression cut short: the plain file is complete
    assert stream_file(path) == path and RunDir(tmp_path).file(LEDGER_FILE) == path


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_both_readers_skip_a_torn_last_line_and_name_the_file_read(
    tmp_path: Path, compressed: bool
) -> None:
    path = tmp_path / STOCK_FILE
    data = LINES + b'{"t": 3, "n"'
    source = gz(path, data) if compressed else path
    if not compressed:
        path.write_bytes(data)
    assert [n for n, _ in read_numbered(path)] == [1, 2]
    assert [n for n, _ in read_records(path)] == [1, 2]
    bad = b'{"t": 1}\nnot json\n{"t": 2}\n'
    source.write_bytes(gzip.compress(bad) if compressed else bad)
    with pytest.raises(RunDirError, match=rf"^{source}:2: corrupt record"):
        list(read_numbered(path))
    with pytest.raises(RunDirError, match=rf"^{source}:2: corrupt record"):
        list(read_records(path))


@pytest.mark.parametrize(
    "damage", [b"not gzip at all", gzip.compress(LINES)[:-12]], ids=["not gzip", "cut short"]
)
def test_a_damaged_gz_is_one_error_naming_it(tmp_path: Path, damage: bytes) -> None:
    path = tmp_path / LATENCY_FILE
    packed = path.with_name(path.name + ".gz")
    packed.write_bytes(damage)
    with pytest.raises(RunDirError, match=rf"^{packed}: cannot read: "):
        list(read_numbered(path))
    with pytest.raises(RunDirError, match=rf"^{packed}: cannot read: "):
        list(read_records(path))
