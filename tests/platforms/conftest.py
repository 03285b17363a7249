"""Fixtures: a LocalPlatform running the stand-in OMS, stopped after each test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from platforms.local import LocalPlatform, OmsConfig
from tests.platforms.helpers import EventRecorder

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

MakePlatform = Callable[..., LocalPlatform]


@pytest.fixture
def standin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let children run ``python -m standin_oms``; clear its misbehaviour switches."""
    paths = [str(HERE), str(REPO), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    for name in ("STANDIN_FAIL", "STANDIN_CRASH_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def events() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
def make_platform(
    tmp_path: Path, standin_env: None, events: EventRecorder
) -> Iterator[MakePlatform]:
    """Build stand-in platforms (not started) that are stopped when the test ends."""
    made: list[LocalPlatform] = []

    def make(
        replicas: int = 2, version: str = "v1", *, fault_proxy: bool = False, **kwargs: object
    ) -> LocalPlatform:
        config = OmsConfig(
            version=version, replicas=replicas, module="standin_oms", fault_proxy=fault_proxy
        )
        kwargs.setdefault("poll_interval_s", 0.05)
        platform = LocalPlatform(config, tmp_path / "work", on_event=events, **kwargs)  # type: ignore[arg-type]
        made.append(platform)
        return platform

    yield make
    for platform in made:
        platform.stop()
