"""The stock-drift checker (docs/drift.md): is the stock every channel showed consistent
with the orders acknowledged? ``check_run`` reads a run directory; ``DriftChecker`` takes
records one at a time. This module only re-exports the public names of its submodules.
"""

from collectors.drift.checker import (
    DriftChecker,
    check_run,
    check_share,
)
from collectors.drift.model import DriftConfig
from collectors.drift.report import DriftReport, Violation
from slo.runfiles import DRIFT_FILE, LEDGER_FILE, STOCK_FILE

__all__ = [
    "DRIFT_FILE",
    "LEDGER_FILE",
    "STOCK_FILE",
    "DriftChecker",
    "DriftConfig",
    "DriftReport",
    "Violation",
    "check_run",
    "check_share",
]
