"""The alerts Prometheus fired during a run, as ``alert_firing`` / ``alert_resolved`` events.

``AlertTracker`` is pure: fed each answer of ``GET /api/v1/alerts`` with the time it
was read, it returns the events to write. An alert starts at Prometheus' ``activeAt``
(the rules have ``for: 0s``, so active is firing) and ends at the first poll that no
longer lists it (within a poll interval, 1 s). ``AlertWatch`` polls from a daemon
thread and, when stopped, once more: what still fires then is listed by
``still_firing``. Only alerts labelled with one of the plan's SLO ids are recorded, so
an existing Prometheus's other alerts stay out of the run.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from slo.conventions import LABEL_SEVERITY, LABEL_SLO
from slo.runfiles import ALERT_FIRING, ALERT_RESOLVED, MONITORING_POLL_FAILED

__all__ = ["POLL_S", "AlertTracker", "AlertWatch", "parse_time"]

POLL_S = 1.0
"""As often as the rules are evaluated in a rehearsal."""

Emit = Callable[..., None]
_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(text: str) -> float | None:
    """Unix seconds of Prometheus' RFC 3339 times (nanoseconds, ``Z``); None if not one."""
    try:
        return datetime.fromisoformat(_FRACTION.sub(r"\1", text).replace("Z", "+00:00")).timestamp()
    except (ValueError, TypeError):
        return None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class _Firing:
    alert: str
    labels: Mapping[str, str]
    started_at: str
    started_ts: float

    def fields(self) -> dict[str, Any]:
        return {
            "alert": self.alert,
            "slo": self.labels.get(LABEL_SLO, ""),
            "severity": self.labels.get(LABEL_SEVERITY, ""),
            "labels": dict(self.labels),
            "started_at": self.started_at,
            "started_ts": self.started_ts,
        }


class AlertTracker:
    """Firing alerts across polls; ``update`` returns the events each poll implies."""

    def __init__(self, slo_ids: Collection[str]) -> None:
        self._slo_ids = frozenset(slo_ids)
        self._firing: dict[tuple[tuple[str, str], ...], _Firing] = {}
        self.fired = 0

    def update(self, answer: Any, now: float) -> list[tuple[str, dict[str, Any]]]:
        """Events (type, fields) after one ``/api/v1/alerts`` answer read at ``now``."""
        seen: dict[tuple[tuple[str, str], ...], _Firing] = {}
        for alert in _alerts(answer):
            labels = alert.get("labels")
            if not isinstance(labels, dict) or labels.get(LABEL_SLO) not in self._slo_ids:
                continue
            if alert.get("state") != "firing":
                continue
            labels = {str(k): str(v) for k, v in labels.items()}
            key = tuple(sorted(labels.items()))
            active = str(alert.get("activeAt", ""))
            started = parse_time(active) or now
            seen[key] = self._firing.get(key) or _Firing(
                alert=labels.pop("alertname", ""),
                labels=labels,
                started_at=_iso(started),
                started_ts=started,
            )
        events: list[tuple[str, dict[str, Any]]] = []
        for key, firing in seen.items():
            if key not in self._firing:
                self.fired += 1
                events.append((ALERT_FIRING, firing.fields()))
        for key, firing in self._firing.items():
            if key not in seen:
                ended = {
                    "ended_at": _iso(now),
                    "ended_ts": now,
                    "duration_s": round(now - firing.started_ts, 3),
                }
                events.append((ALERT_RESOLVED, {**firing.fields(), **ended}))
        self._firing = seen
        return events

    def still_firing(self) -> list[dict[str, Any]]:
        """The alerts firing at the last poll: alert, slo, severity, started_at."""
        return [
            {k: v for k, v in firing.fields().items() if k not in ("labels", "started_ts")}
            for firing in self._firing.values()
        ]


def _alerts(answer: Any) -> list[dict[str, Any]]:
    data = answer.get("data") if isinstance(answer, dict) else None
    alerts = data.get("alerts") if isinstance(data, dict) else None
    return [a for a in alerts if isinstance(a, dict)] if isinstance(alerts, list) else []


class AlertWatch:
    """Polls ``<prometheus>/api/v1/alerts`` every ``POLL_S`` into the run's events.

    A failing poll is recorded once (``monitoring_poll_failed``) until one succeeds
    again; it never stops the rehearsal.
    """

    def __init__(
        self,
        prometheus_url: str,
        tracker: AlertTracker,
        emit: Emit,
        *,
        clock: Callable[[], float],
        on_failure: Callable[[str], None] = lambda _error: None,
    ) -> None:
        self._url = f"{prometheus_url}/api/v1/alerts"
        self._tracker = tracker
        self._emit = emit
        self._clock = clock
        self._on_failure = on_failure
        self._client = httpx.Client(trust_env=False, timeout=2.0)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="peakops-alerts", daemon=True)

    @property
    def fired(self) -> int:
        """How many alerts started firing while watched."""
        return self._tracker.fired

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> list[dict[str, Any]]:
        """Stop polling, poll once more; the alerts still firing then."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.poll()
        self._client.close()
        return self._tracker.still_firing()

    def poll(self) -> None:
        with self._lock:
            try:
                answer = self._client.get(self._url)
                answer.raise_for_status()
                data = answer.json()
            except (httpx.HTTPError, ValueError) as err:
                if not self._failing:
                    self._failing = True
                    error = f"{type(err).__name__}: {err}"
                    self._emit(MONITORING_POLL_FAILED, url=self._url, error=error)
                    self._on_failure(error)
                return
            self._failing = False
            for kind, fields in self._tracker.update(data, self._clock()):
                self._emit(kind, **fields)

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            self.poll()
