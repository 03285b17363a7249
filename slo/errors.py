"""The one exception tree of peakops; each error knows the exit code it maps to.

::

    PeakopsError                 base; ``.exit_code``
    ├── PlanError       (2)      a plan file or snapshot is invalid; ``.issues``
    ├── UsageError      (2)      a bad command-line flag or value
    ├── RunDirError     (2)      a run directory is missing or corrupt
    ├── InfraError      (3)      target or Prometheus unreachable, a process would not start
    └── RevertError     (5)      a fault could not be reverted or a rollback failed

Messages are lowercase and say what failed, where, and the bad value. Raise with
``raise ... from err`` so the cause stays attached for ``--debug`` output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from slo.exitcodes import ExitCode

__all__ = [
    "InfraError",
    "PeakopsError",
    "PlanError",
    "PlanIssue",
    "RevertError",
    "RunDirError",
    "UsageError",
]


class PeakopsError(Exception):
    """Base of every error peakops reports to a user instead of a traceback.

    Subclasses set ``exit_code``. A bare ``PeakopsError`` should not be raised; if
    one is, it is treated as an infrastructure failure.
    """

    exit_code: ClassVar[ExitCode] = ExitCode.INFRA


@dataclass(frozen=True)
class PlanIssue:
    """One problem in a plan: where it is, which field, the bad value and why.

    ``line`` and ``column`` are 1-based; ``line`` is ``None`` when there is no file
    position (a missing file, a plan rebuilt from a run snapshot). ``field`` is the
    dotted YAML path, e.g. ``slos.objectives[0].threshold``, or ``""`` for the file.
    """

    file: str
    line: int | None
    field: str
    value: str | None
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


class PlanError(PeakopsError):
    """A plan is invalid; ``issues`` lists every problem found, in file order."""

    exit_code: ClassVar[ExitCode] = ExitCode.USAGE

    def __init__(self, issues: Iterable[PlanIssue]) -> None:
        self.issues: tuple[PlanIssue, ...] = tuple(issues)
        if not self.issues:
            raise ValueError("a plan error needs at least one issue")
        super().__init__("\n".join(str(issue) for issue in self.issues))

    @classmethod
    def single(cls, file: str, message: str, *, line: int | None = None) -> PlanError:
        """A plan error with one file-level issue (no field), e.g. ``no such file``."""
        return cls([PlanIssue(file=file, line=line, field="", value=None, message=message)])


class UsageError(PeakopsError):
    """A bad command-line flag or value."""

    exit_code: ClassVar[ExitCode] = ExitCode.USAGE


class RunDirError(PeakopsError):
    """A run directory is missing, incomplete or corrupt."""

    exit_code: ClassVar[ExitCode] = ExitCode.USAGE


class InfraError(PeakopsError):
    """The target or Prometheus is unreachable, or a process would not start."""

    exit_code: ClassVar[ExitCode] = ExitCode.INFRA


class RevertError(PeakopsError):
    """A fault could not be reverted or a rollback failed."""

    exit_code: ClassVar[ExitCode] = ExitCode.REVERT_FAILED
