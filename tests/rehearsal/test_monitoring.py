"""Prometheus in the loop without processes: plan fields, rules, alert tracking, choices."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from collectors.rundir import RunDir
from rehearsal.monitoring import ExternalMonitor, LocalMonitor, NoMonitor, default_monitor
from rehearsal.monitoring_alerts import AlertTracker, parse_time
from rehearsal.monitoring_config import (
    MonitoringLayout,
    alertmanager_argv,
    prometheus_argv,
    run_rules,
    write_page_secret,
)
from rehearsal.monitoring_relay import notified_events
from rehearsal.run import _check_allowed
from slo.errors import PlanError, UsageError
from slo.loader import load_plan_text
from slo.plan import Plan, with_overrides

PLAN = """\
apiVersion: peakops/v1
target: {kind: embedded}
load: {duration: 10s, baseline: 600}
slos:
  objectives:
    - {id: place-p99, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms}
    - {id: errors, kind: error_ratio, max: 0.01}
    - {id: no-oversell, kind: oversell, max: 0}
"""


def plan(extra: str = "", slos_extra: str = "") -> Plan:
    text = PLAN.replace("slos:\n", f"slos:\n{slos_extra}") + extra
    return load_plan_text(text, source="peak.yaml")


# -- the plan's monitoring section ---------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "slos_extra", "windows"),
    [
        ("", "", "rehearsal"),
        ("", "  alertWindows: google-28d\n", "google-28d"),
        ("monitoring: {alertWindows: google-30d}\n", "  alertWindows: rehearsal\n", "google-30d"),
    ],
    ids=[
        "a plan that names no window set rehearses with the rehearsal set",
        "a plan's slos.alertWindows is the rehearsal's too",
        "monitoring.alertWindows overrides slos.alertWindows",
    ],
)
def test_alert_windows_resolve_once_and_survive_overrides(
    extra: str, slos_extra: str, windows: str
) -> None:
    loaded = plan(extra, slos_extra)
    assert loaded.monitoring.alert_windows == windows
    # --duration re-validates a snapshot carrying every default: the set must not change.
    assert with_overrides(loaded, duration_s=5).monitoring.alert_windows == windows


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "monitoring: {prometheusUrl: 'http://prom.example:9090'}\n",
            "peak.yaml:9: monitoring.prometheusUrl: host 'prom.example' is not in "
            "target.allowHosts",
        ),
        (
            "monitoring: {prometheusUrl: 'http://u:secret@127.0.0.1:9090'}\n",
            "credentials in the URL (http://***@127.0.0.1:9090) are refused",
        ),
        (
            "monitoring: {enabled: false, prometheusUrl: 'http://127.0.0.1:9090'}\n",
            "monitoring.prometheusUrl: monitoring is disabled (enabled: false)",
        ),
        ("monitoring: {alertWindows: 7d}\n", "peak.yaml:9: monitoring.alertWindows: unknown"),
        ("monitoring: {scrape: 1s}\n", "monitoring.scrape"),
    ],
    ids=[
        "an existing Prometheus outside the plan's allowHosts is refused with file:line",
        "credentials in the Prometheus URL are refused and never echoed",
        "a Prometheus URL while monitoring is off is a contradiction",
        "an unknown window set is refused",
        "an unknown key is refused",
    ],
)
def test_bad_monitoring_sections_are_refused(extra: str, message: str) -> None:
    with pytest.raises(PlanError) as caught:
        plan(extra)
    assert message in str(caught.value)
    assert "secret" not in str(caught.value)


def test_an_allowlisted_remote_prometheus_still_needs_the_operator() -> None:
    text = PLAN.replace(
        "target: {kind: embedded}",
        "target: {kind: embedded, allowHosts: [127.0.0.1, prom.example]}",
    )
    remote = load_plan_text(
        text + "monitoring: {prometheusUrl: 'http://prom.example:9090'}\n", source="peak.yaml"
    )
    with pytest.raises(UsageError, match=re.escape("PEAKOPS_ALLOWED_HOSTS=prom.example")):
        _check_allowed(remote, frozenset())
    _check_allowed(remote, frozenset({"prom.example"}))


# -- the run's rules and files -------------------------------------------------------


def test_run_rules_cover_what_a_rehearsal_serves_with_a_no_data_alert_that_waits() -> None:
    rules = run_rules(plan(), "http://127.0.0.1:1/alertmanager")
    assert rules.windows == "rehearsal"
    assert rules.watched == ("place-p99", "errors")
    assert "peak-day collector" in rules.not_watched["no-oversell"]
    assert rules.rules is not None
    # The generated absent_over_time would fire before the load has served anything.
    assert "absent(peakops_client_requests_total)" in rules.rules
    assert "absent_over_time" not in rules.rules
    assert "for: 30s" in rules.rules and "interval: 1s" in rules.rules
    assert "url: http://127.0.0.1:1/alertmanager" in rules.alertmanager


def test_both_servers_listen_on_loopback_only_with_the_rehearsal_flags(tmp_path: Path) -> None:
    layout = MonitoringLayout(tmp_path)
    prometheus = prometheus_argv("prometheus", layout, 9999)
    assert "--web.listen-address=127.0.0.1:9999" in prometheus
    assert "--enable-feature=exemplar-storage" in prometheus
    assert "--rules.alert.resend-delay=2s" in prometheus
    assert f"--storage.tsdb.path={tmp_path / 'prometheus-data'}" in prometheus
    alertmanager = alertmanager_argv("prometheus-alertmanager", layout, 9998)
    assert "--web.listen-address=127.0.0.1:9998" in alertmanager
    assert "--cluster.listen-address=" in alertmanager


# -- which monitor -------------------------------------------------------------------


def _run(tmp_path: Path) -> RunDir:
    return RunDir.create(tmp_path, "run", plan={}, git_sha=None)


def test_without_the_binaries_the_rehearsal_is_told_once_how_to_install_them(
    tmp_path: Path,
) -> None:
    said: list[str] = []
    monitor = default_monitor(plan(), _run(tmp_path), said.append, which=lambda _name: None)
    assert isinstance(monitor, NoMonitor)
    assert len(said) == 1
    assert "prometheus and prometheus-alertmanager not found on PATH" in said[0]
    assert "apt-get install prometheus prometheus-alertmanager" in said[0]
    with monitor:
        pass
    skipped = [e for e in _run_events(tmp_path) if e["type"] == "monitoring_skipped"]
    assert skipped and "not found on PATH" in skipped[0]["reason"]


@pytest.mark.parametrize(
    ("extra", "kind"),
    [
        ("monitoring: {enabled: false}\n", NoMonitor),
        ("monitoring: {prometheusUrl: 'http://127.0.0.1:9'}\n", ExternalMonitor),
        ("", LocalMonitor),
    ],
    ids=["turned off by the plan", "an existing Prometheus", "our own"],
)
def test_the_plan_chooses_the_monitor_silently(tmp_path: Path, extra: str, kind: type) -> None:
    said: list[str] = []
    found = default_monitor(plan(extra), _run(tmp_path), said.append, which=lambda n: f"/x/{n}")
    assert isinstance(found, kind) and said == []


def _run_events(tmp_path: Path) -> list[dict[str, Any]]:
    return RunDir(tmp_path / "run").events()


# -- alerts as events ----------------------------------------------------------------


def _alert(name: str, slo: str, state: str = "firing", at: str = "2026-12-04T10:00:00.5Z") -> Any:
    labels = {"alertname": name, "slo": slo, "severity": "page"}
    return {"labels": labels, "state": state, "activeAt": at, "value": "1e+00"}


def _answer(*alerts: Any) -> Any:
    return {"status": "success", "data": {"alerts": list(alerts)}}


def test_an_alert_fires_at_its_active_time_and_resolves_at_the_first_poll_without_it() -> None:
    tracker = AlertTracker({"place-p99"})
    started = parse_time("2026-12-04T10:00:00.5Z")
    assert started is not None
    page = _alert("PeakopsSLOBurnPageQuick", "place-p99")
    (kind, fired), = tracker.update(_answer(page), started + 2)  # fmt: skip
    assert kind == "alert_firing"
    assert fired["started_ts"] == started and fired["started_at"].startswith(
        "2026-12-04T10:00:00.5"
    )
    assert (fired["alert"], fired["slo"], fired["severity"]) == (
        "PeakopsSLOBurnPageQuick", "place-p99", "page",
    )  # fmt: skip
    assert tracker.update(_answer(page), started + 3) == []  # still firing: nothing new
    (kind, resolved), = tracker.update(_answer(), started + 9)  # fmt: skip
    assert kind == "alert_resolved" and resolved["duration_s"] == 9
    assert tracker.fired == 1 and tracker.still_firing() == []


def test_pending_alerts_and_alerts_of_other_slos_are_not_recorded() -> None:
    tracker = AlertTracker({"place-p99"})
    events = tracker.update(
        _answer(_alert("A", "place-p99", state="pending"), _alert("B", "someone-elses")), 0.0
    )
    assert events == [] and tracker.still_firing() == []


def test_nanosecond_times_of_prometheus_parse() -> None:
    assert parse_time("2026-12-04T10:11:53.406438695Z") == pytest.approx(1796379113.406438)
    assert parse_time("not a time") is None


def test_alertmanager_notifications_become_one_event_each() -> None:
    payload = {
        "receiver": "peakops-page",
        "status": "firing",
        "alerts": [
            {"status": "firing", "labels": _alert("PeakopsSLOBurnPageQuick", "p")["labels"],
             "startsAt": "2026-12-04T10:00:00Z"},
            "junk",
        ],
    }  # fmt: skip
    assert notified_events(payload) == [
        {"alert": "PeakopsSLOBurnPageQuick", "slo": "p", "severity": "page", "status": "firing",
         "receiver": "peakops-page", "starts_at": "2026-12-04T10:00:00Z"},
    ]  # fmt: skip
    assert notified_events("nonsense") == []


# -- monitoring.pageWebhook: pages to the rollback receiver ---------------------------

PAGE_WEBHOOK = "monitoring: {pageWebhook: {url: 'http://127.0.0.1:9094/alerts', %s}}\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "monitoring: {pageWebhook: {url: 'http://10.1.2.3:9094/alerts'}}\n",
            "peak.yaml:9: monitoring.pageWebhook.url: host '10.1.2.3' is not loopback",
        ),
        (
            "monitoring: {pageWebhook: {url: 'http://u:secret@127.0.0.1:9094/alerts'}}\n",
            "monitoring.pageWebhook.url: credentials in the URL",
        ),
        (
            PAGE_WEBHOOK % "credentialsEnv: 'secret value'",
            "peak.yaml:9: monitoring.pageWebhook.credentialsEnv: not an environment variable",
        ),
        (
            "monitoring: {prometheusUrl: 'http://127.0.0.1:9090', "
            "pageWebhook: {url: 'http://127.0.0.1:9094/alerts'}}\n",
            "monitoring.pageWebhook: pageWebhook needs the rehearsal's own Alertmanager",
        ),
        (
            "monitoring: {enabled: false, pageWebhook: {url: 'http://127.0.0.1:9094/alerts'}}\n",
            "but monitoring is disabled",
        ),
    ],
    ids=[
        "a page webhook off loopback is refused with file:line",
        "credentials in the page webhook URL are refused and never echoed",
        "credentialsEnv names a variable, never holds a secret",
        "an existing Prometheus's Alertmanager is not the rehearsal's to configure",
        "a page webhook while monitoring is off is a contradiction",
    ],
)
def test_bad_page_webhooks_are_refused(extra: str, message: str) -> None:
    with pytest.raises(PlanError) as caught:
        plan(extra)
    assert message in str(caught.value)
    assert "secret value" not in str(caught.value) and ":secret@" not in str(caught.value)


def test_pages_also_go_to_the_page_webhook_with_the_secret_in_a_private_file(
    tmp_path: Path,
) -> None:
    with_webhook = plan(PAGE_WEBHOOK % "credentialsEnv: SHOP_HOOK")
    rules = run_rules(with_webhook, "http://127.0.0.1:1/alertmanager")
    assert "url: http://127.0.0.1:9094/alerts" in rules.alertmanager
    assert "credentials_file: page-webhook-secret" in rules.alertmanager
    layout = MonitoringLayout(tmp_path / "monitoring")

    write_page_secret(with_webhook, layout, {"SHOP_HOOK": " s3cr3t\n"})

    assert layout.page_secret.read_text() == "s3cr3t"
    assert layout.page_secret.stat().st_mode & 0o777 == 0o600
    assert "s3cr3t" not in rules.alertmanager


def test_an_unset_page_webhook_secret_is_named_never_shown(tmp_path: Path) -> None:
    layout = MonitoringLayout(tmp_path / "monitoring")
    with pytest.raises(UsageError, match=r"\$PEAKOPS_WEBHOOK_SECRET is not set or empty"):
        write_page_secret(plan(PAGE_WEBHOOK % ""), layout, {"PEAKOPS_WEBHOOK_SECRET": " "})
    assert not layout.page_secret.exists()
    write_page_secret(plan(), layout, {})  # no page webhook: nothing written
    assert not layout.page_secret.exists()
