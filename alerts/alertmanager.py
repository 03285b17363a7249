"""Generator of the Alertmanager configuration (``alertmanager.yaml``).

Routes by severity: pages go to a webhook (by default the rollback receiver of
``peakops``, ``DEFAULT_PAGE_URL``) and to any more given with a bearer token file
(``BearerWebhook``), tickets to a webhook when one is given, else nowhere (a receiver
without configs). A firing page inhibits the tickets of the same
SLO: one incident, one notification. Routing times come from the window set
(``alertmanager:``), so rehearsals notify within seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alerts.durations import format_window
from alerts.window_sets import WindowSet
from slo.conventions import LABEL_SEVERITY, LABEL_SLO, SEVERITY_PAGE, SEVERITY_TICKET

__all__ = [
    "DEFAULT_PAGE_URL",
    "PAGE_RECEIVER",
    "TICKET_RECEIVER",
    "BearerWebhook",
    "build_alertmanager",
]

DEFAULT_PAGE_URL = "http://127.0.0.1:9094/alerts"
"""The rollback receiver's webhook (rollout/): pages may roll a release back."""
PAGE_RECEIVER = "peakops-page"
TICKET_RECEIVER = "peakops-ticket"
_DEFAULT_RECEIVER = "peakops-null"


@dataclass(frozen=True)
class BearerWebhook:
    """One more webhook for pages, sent ``Authorization: Bearer <credentials_file's
    content>`` (Alertmanager reads the file; the secret is never in the configuration)."""

    url: str
    credentials_file: str

    def to_config(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "send_resolved": True,
            "http_config": {
                "authorization": {"type": "Bearer", "credentials_file": self.credentials_file}
            },
        }


def _matcher(name: str, value: str) -> str:
    return f'{name}="{value}"'


def _receiver(name: str, url: str | None, more: Sequence[BearerWebhook] = ()) -> dict[str, Any]:
    configs = [] if url is None else [{"url": url, "send_resolved": True}]
    configs += [webhook.to_config() for webhook in more]
    return {"name": name, "webhook_configs": configs} if configs else {"name": name}


def build_alertmanager(
    windows: WindowSet,
    *,
    page_url: str = DEFAULT_PAGE_URL,
    ticket_url: str | None = None,
    page_webhooks: Sequence[BearerWebhook] = (),
) -> dict[str, Any]:
    """The configuration as data (render it with ``alerts.render``).

    ``page_webhooks`` also receive every page (a rehearsal's rollback receiver).
    """
    timing = windows.alertmanager
    return {
        "route": {
            "receiver": _DEFAULT_RECEIVER,
            "group_by": ["alertname", LABEL_SLO],
            "group_wait": format_window(timing.group_wait),
            "group_interval": format_window(timing.group_interval),
            "repeat_interval": format_window(timing.repeat_interval),
            "routes": [
                {
                    "matchers": [_matcher(LABEL_SEVERITY, SEVERITY_PAGE)],
                    "receiver": PAGE_RECEIVER,
                },
                {
                    "matchers": [_matcher(LABEL_SEVERITY, SEVERITY_TICKET)],
                    "receiver": TICKET_RECEIVER,
                },
            ],
        },
        "receivers": [
            _receiver(_DEFAULT_RECEIVER, None),
            _receiver(PAGE_RECEIVER, page_url, page_webhooks),
            _receiver(TICKET_RECEIVER, ticket_url),
        ],
        "inhibit_rules": [
            {
                "source_matchers": [_matcher(LABEL_SEVERITY, SEVERITY_PAGE)],
                "target_matchers": [_matcher(LABEL_SEVERITY, SEVERITY_TICKET)],
                "equal": [LABEL_SLO],
            }
        ],
    }
