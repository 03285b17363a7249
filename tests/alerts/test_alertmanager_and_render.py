"""Alertmanager config as data, and the one renderer: sorted, deterministic YAML."""

from __future__ import annotations

import yaml

from alerts import generate_files
from alerts.alertmanager import DEFAULT_PAGE_URL, BearerWebhook, build_alertmanager
from alerts.render import HEADER, render_yaml
from alerts.window_sets import load_window_set
from slo.loader import load_plan
from tests.alerts.plans import ROOT


def test_pages_go_to_the_rollback_webhook_and_tickets_nowhere_by_default() -> None:
    config = build_alertmanager(load_window_set("google-30d"))
    routes = {r["matchers"][0]: r["receiver"] for r in config["route"]["routes"]}
    assert routes == {'severity="page"': "peakops-page", 'severity="ticket"': "peakops-ticket"}
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["peakops-page"]["webhook_configs"] == [
        {"url": "http://127.0.0.1:9094/alerts", "send_resolved": True}
    ]
    assert DEFAULT_PAGE_URL == "http://127.0.0.1:9094/alerts"
    assert "webhook_configs" not in receivers["peakops-ticket"]


def test_the_webhook_urls_are_parameters() -> None:
    config = build_alertmanager(
        load_window_set("rehearsal"),
        page_url="http://127.0.0.1:1/page",
        ticket_url="http://127.0.0.1:2/ticket",
    )
    urls = {r["name"]: r.get("webhook_configs", [{}])[0].get("url") for r in config["receivers"]}
    assert urls == {
        "peakops-null": None,
        "peakops-page": "http://127.0.0.1:1/page",
        "peakops-ticket": "http://127.0.0.1:2/ticket",
    }


def test_more_page_webhooks_get_a_bearer_token_from_a_file_never_the_token() -> None:
    receiver = BearerWebhook("http://127.0.0.1:3/alerts", "page-webhook-secret")
    config = build_alertmanager(
        load_window_set("rehearsal"), page_url="http://127.0.0.1:1/page", page_webhooks=[receiver]
    )
    pages = {r["name"]: r for r in config["receivers"]}["peakops-page"]["webhook_configs"]
    assert pages == [
        {"url": "http://127.0.0.1:1/page", "send_resolved": True},
        {
            "url": "http://127.0.0.1:3/alerts",
            "send_resolved": True,
            "http_config": {
                "authorization": {"type": "Bearer", "credentials_file": "page-webhook-secret"}
            },
        },
    ]


def test_a_firing_page_inhibits_the_tickets_of_the_same_slo() -> None:
    (rule,) = build_alertmanager(load_window_set("google-30d"))["inhibit_rules"]
    assert rule == {
        "source_matchers": ['severity="page"'],
        "target_matchers": ['severity="ticket"'],
        "equal": ["slo"],
    }


def test_routing_times_come_from_the_window_set() -> None:
    rehearsal = build_alertmanager(load_window_set("rehearsal"))["route"]
    google = build_alertmanager(load_window_set("google-30d"))["route"]
    times = ("group_wait", "group_interval", "repeat_interval")
    assert [rehearsal[t] for t in times] == ["1s", "5s", "1m"]
    assert [google[t] for t in times] == ["30s", "5m", "4h"]


def test_rendering_sorts_keys_keeps_list_order_and_writes_promql_as_block_literals() -> None:
    text = render_yaml({"b": ["z", "a"], "a": "x > 1\nand\ny > 2\n"}, ["a note"])
    assert text == f"# {HEADER}\n# a note\na: |\n  x > 1\n  and\n  y > 2\nb:\n- z\n- a\n"


def test_long_notes_wrap_as_comments() -> None:
    text = render_yaml({}, ["word " * 40])
    comments = text.splitlines()[1:-1]
    assert all(line.startswith("# ") for line in comments) and len(comments) == 3
    assert all(len(line) <= 100 for line in comments)


def test_generating_twice_gives_the_same_bytes_and_valid_yaml() -> None:
    plan = load_plan(ROOT / "peak.yaml")
    first, second = generate_files(plan), generate_files(plan)
    assert first == second
    assert sorted(first) == [
        "alertmanager.yaml",
        "default-peak.rules.yaml",
        "default-peak.tests.yaml",
    ]
    for text in first.values():
        assert text.startswith(f"# {HEADER}\n")
        assert isinstance(yaml.safe_load(text), dict)
