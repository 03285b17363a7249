"""Every alert's runbook link lands on a section of docs/alerts.md."""

from __future__ import annotations

import re

import yaml

from tests.alerts.plans import ROOT


def test_every_runbook_url_of_the_committed_rules_has_its_section() -> None:
    rules = yaml.safe_load((ROOT / "alerts/generated/default-peak.rules.yaml").read_text())
    urls = {
        rule["annotations"]["runbook_url"]
        for group in rules["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    headings = re.findall(r"^### (\S+)$", (ROOT / "docs/alerts.md").read_text(), re.M)
    assert urls == {f"docs/alerts.md#{heading}" for heading in headings}
