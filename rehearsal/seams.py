"""The seams of a rehearsal: what runs the load, what starts a chaos step, which platform.

``rehearsal.run.rehearse`` is given a ``Seams``; the defaults start real processes
(Locust, Chaos Toolkit runners, the platform the plan names) and tests pass fakes that
write records into the run directory instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from collectors.rundir import EventLog, RunDir
from platforms.base import Endpoints, Platform
from slo.plan import ChaosStep, Plan

__all__ = ["ChaosLauncher", "LoadRunner", "PlatformFactory", "Seams", "StepProcess"]


class LoadRunner(Protocol):
    """Runs the flood against ``endpoints`` for ``duration_s``, recording into ``run``.

    Returns when the load (and its drain, resolution and settle) is over; raises
    ``InfraError`` when it fails, and lets ``KeyboardInterrupt`` through after
    stopping the load.
    """

    def run(
        self,
        run: RunDir,
        endpoints: Endpoints,
        *,
        duration_s: float,
        grace_s: float,
        on_tick: Callable[[float], None],
    ) -> None: ...


class StepProcess(Protocol):
    """A running chaos step (a ``subprocess.Popen`` or a fake)."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, sig: int) -> None: ...

    def kill(self) -> None: ...


class ChaosLauncher(Protocol):
    """Starts one chaos step with its configuration ``variables``."""

    def start(self) -> None: ...

    def launch(
        self, index: int, step: ChaosStep, variables: Mapping[str, Any], run: RunDir
    ) -> StepProcess: ...

    def close(self) -> None: ...


PlatformFactory = Callable[[Plan, RunDir, EventLog], Platform]
"""Builds the rehearsal's platform (not started) for a plan and its run directory."""


@dataclass(frozen=True)
class Seams:
    """What a rehearsal plugs in; ``Seams.default`` gives the real ones."""

    platform: PlatformFactory
    load: LoadRunner
    chaos: Callable[[], ChaosLauncher]

    @classmethod
    def default(cls, processes: int = 1) -> Seams:
        from rehearsal.chaos import RunnerLauncher
        from rehearsal.load import LocustLoad
        from rehearsal.target import default_platform

        return cls(platform=default_platform, load=LocustLoad(processes), chaos=RunnerLauncher)
