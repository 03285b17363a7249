"""The one map from outcomes to process exit codes (DESIGN.md, "Verdicts and exit codes")."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode"]


class ExitCode(IntEnum):
    """Exit codes of every peakops command.

    ``BREACH`` is the default; a plan may choose another code for an SLO breach
    (``slos.breachExitCode``, e.g. 99 for k6-style pipelines).
    """

    OK = 0
    BREACH = 1
    USAGE = 2
    INFRA = 3
    INCONCLUSIVE = 4
    REVERT_FAILED = 5
