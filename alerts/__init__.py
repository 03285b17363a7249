"""SLO -> Prometheus recording rules, multiwindow multi-burn-rate alerts, their promtool
tests and the Alertmanager configuration (docs/alerts.md). Imports only ``slo``.

This module only re-exports the public names of its submodules.
"""

from alerts.alertmanager import DEFAULT_PAGE_URL, build_alertmanager
from alerts.generate import (
    ALERTMANAGER_FILE,
    generate_files,
    generate_openslo,
    rules_file,
    tests_file,
)
from alerts.model import (
    AlertingRule,
    AlertSlo,
    AlertSpec,
    CountSli,
    RatioSli,
    RecordingRule,
    RuleFile,
    RuleGroup,
    Selector,
    Skipped,
)
from alerts.promtests import build_tests
from alerts.render import render_documents, render_yaml
from alerts.rules import GENERATORS, build_rules
from alerts.spec import alert_spec
from alerts.tools import ToolRun, check_directory
from alerts.window_sets import BurnPair, WindowSet, load_window_set
from slo.generated_files import diff_files, write_files

__all__ = [
    "ALERTMANAGER_FILE",
    "DEFAULT_PAGE_URL",
    "GENERATORS",
    "AlertSlo",
    "AlertSpec",
    "AlertingRule",
    "BurnPair",
    "CountSli",
    "RatioSli",
    "RecordingRule",
    "RuleFile",
    "RuleGroup",
    "Selector",
    "Skipped",
    "ToolRun",
    "WindowSet",
    "alert_spec",
    "build_alertmanager",
    "build_rules",
    "build_tests",
    "check_directory",
    "diff_files",
    "generate_files",
    "generate_openslo",
    "load_window_set",
    "render_documents",
    "render_yaml",
    "rules_file",
    "tests_file",
    "write_files",
]
