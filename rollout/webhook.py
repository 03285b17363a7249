"""Decide what an Alertmanager notification asks of ``peakops rollback serve``.

Alertmanager's webhook receiver POSTs a JSON notification (``version: "4"``): a group
of alerts, each with ``status`` (``firing``/``resolved``), ``labels``, ``annotations``,
``startsAt``, ``endsAt`` and ``fingerprint`` (a hash of its labels). Here it is parsed
once into typed values, and each alert gets a :class:`Decision`: only a *firing*
*page* alert whose labels name the target may roll it back, and at most once per
``(fingerprint, running revision)``. Resolved alerts are recorded, never acted on.

Two more guards keep a receiver from rolling back twice: while a rollback is queued or
running every other alert waits for it (``duplicate``), and a revision this receiver
restored is never rolled back (alerts keep firing for minutes after a rollback, while
their burn-rate windows drain: acting on them would roll the good release back too).

The HTTP side is :mod:`rollout.webhook_server`; the rollback itself is a
:class:`~rollout.rollback_action.RollbackAction`. See docs/rollback.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from collectors.jsonl import JsonlAppender, read_numbered
from slo.conventions import LABEL_SEVERITY, SEVERITY_PAGE
from slo.errors import RunDirError, UsageError
from slo.hosts import is_loopback

__all__ = [
    "DEFAULT_SECRET_ENV",
    "MAX_BODY_BYTES",
    "Alert",
    "Decision",
    "Job",
    "Ledger",
    "Notification",
    "PayloadError",
    "Seen",
    "job_for",
    "parse_listen",
    "parse_payload",
    "read_secret",
    "screen",
    "settle",
]

MAX_BODY_BYTES = 1 << 20
"""A notification above 1 MiB is refused: Alertmanager's are a few KiB per alert."""

DEFAULT_SECRET_ENV = "PEAKOPS_WEBHOOK_SECRET"
"""Where ``peakops rollback serve`` reads the shared secret (``--secret-env`` to change)."""

WEBHOOK_VERSION = "4"
"""The only payload version Alertmanager has sent since 0.11."""

Verdict = Literal["rollback", "duplicate", "ignored", "recorded", "unavailable"]


class PayloadError(ValueError):
    """The body is not an Alertmanager notification: answered 400, nothing changes."""


@dataclass(frozen=True)
class Alert:
    """One alert of a notification, as Alertmanager sent it."""

    status: Literal["firing", "resolved"]
    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: str
    ends_at: str

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


@dataclass(frozen=True)
class Notification:
    """A parsed webhook body: who sent it and its alerts, in order."""

    receiver: str
    status: str
    group_key: str
    alerts: tuple[Alert, ...]


@dataclass(frozen=True)
class Decision:
    """What the receiver does about one alert, and why (one JSON line on stdout)."""

    fingerprint: str
    alertname: str
    status: str
    verdict: Verdict
    reason: str
    revision: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint, "alertname": self.alertname,
            "status": self.status, "decision": self.verdict, "reason": self.reason,
            "revision": self.revision,
        }  # fmt: skip


@dataclass(frozen=True)
class Job:
    """A rollback the worker is to run: which alert asked, against which revision."""

    fingerprint: str
    alertname: str
    revision: str | None
    reason: str


@dataclass
class Seen:
    """What the receiver remembers: claimed keys, restored revisions, queued work."""

    claims: set[tuple[str, str | None]] = field(default_factory=set)
    restored: set[str] = field(default_factory=set)
    pending: int = 0


def parse_payload(body: bytes) -> Notification:
    """The notification in ``body``; ``PayloadError`` says what is wrong with it."""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadError(f"body of {len(body)} bytes is over the {MAX_BODY_BYTES} byte limit")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as err:  # not UTF-8, not JSON, nested too deep
        raise PayloadError(f"body is not JSON: {err}") from err
    if not isinstance(data, dict):
        raise PayloadError(f"body: expected a JSON object, got {type(data).__name__}")
    if data.get("version") != WEBHOOK_VERSION:
        raise PayloadError(
            f"version: expected {WEBHOOK_VERSION!r} (Alertmanager webhook), "
            f"got {data.get('version')!r}"
        )
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError(f"alerts: expected a list, got {type(alerts).__name__}")
    return Notification(
        receiver=_optional_text(data, "receiver", "body"),
        status=_optional_text(data, "status", "body"),
        group_key=_optional_text(data, "groupKey", "body"),
        alerts=tuple(_alert(item, i) for i, item in enumerate(alerts)),
    )


def _alert(item: object, index: int) -> Alert:
    where = f"alerts[{index}]"
    if not isinstance(item, dict):
        raise PayloadError(f"{where}: expected an object, got {type(item).__name__}")
    status = item.get("status")
    if status not in ("firing", "resolved"):
        raise PayloadError(f"{where}.status: expected 'firing' or 'resolved', got {status!r}")
    fingerprint = item.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint:
        raise PayloadError(f"{where}.fingerprint: expected a non-empty string, got {fingerprint!r}")
    return Alert(
        status=status,
        fingerprint=fingerprint,
        labels=_strings(item.get("labels"), f"{where}.labels", required=True),
        annotations=_strings(item.get("annotations"), f"{where}.annotations", required=False),
        starts_at=_optional_text(item, "startsAt", where),
        ends_at=_optional_text(item, "endsAt", where),
    )


def _strings(value: object, where: str, *, required: bool) -> dict[str, str]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict) or (required and not value):
        raise PayloadError(f"{where}: expected a non-empty object of strings, got {value!r:.80}")
    bad = [k for k, v in value.items() if not isinstance(v, str)]
    if bad:
        raise PayloadError(f"{where}.{bad[0]}: expected a string, got {value[bad[0]]!r:.80}")
    return dict(value)


def _optional_text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise PayloadError(f"{where}.{key}: expected a string, got {value!r:.80}")
    return value


def screen(alert: Alert, *, matches: bool, target: str) -> Decision | None:
    """The decision that needs no revision (resolved, not a page, another target), or None.

    Pure: ``matches`` is ``action.matches(alert.labels)``.
    """

    def decided(verdict: Verdict, reason: str) -> Decision:
        return Decision(alert.fingerprint, alert.name, alert.status, verdict, reason)

    if alert.status == "resolved":
        return decided("recorded", "resolved: recorded, never acted on")
    severity = alert.labels.get(LABEL_SEVERITY)
    if severity != SEVERITY_PAGE:
        return decided("ignored", f"{LABEL_SEVERITY} is {severity!r}, not {SEVERITY_PAGE!r}")
    if not matches:
        return decided("ignored", f"its labels do not name {target}")
    return None


def settle(alert: Alert, revision: str | None, seen: Seen, *, target: str) -> Decision:
    """The decision about a firing page alert for the target, given what runs now.

    Pure apart from claiming the key in ``seen`` when it decides to roll back.
    """

    def decided(verdict: Verdict, reason: str) -> Decision:
        return Decision(alert.fingerprint, alert.name, alert.status, verdict, reason, revision)

    key = (alert.fingerprint, revision)
    if seen.pending:
        return decided("duplicate", f"a rollback of {target} is already queued or running")
    if revision is not None and revision in seen.restored:
        return decided(
            "ignored", f"revision {revision} was restored by a rollback of this receiver: "
            "it is not rolled back again (no rollback loops)",
        )  # fmt: skip
    if key in seen.claims:
        return decided("duplicate", f"this alert already acted on revision {revision}")
    seen.claims.add(key)
    seen.pending += 1
    return decided("rollback", f"firing page alert for {target}: rollback queued")


def job_for(alert: Alert, decision: Decision) -> Job:
    """The rollback a ``rollback`` decision queues, with a reason people can read."""
    summary = alert.annotations.get("summary") or alert.annotations.get("description", "")
    reason = f"alert {alert.name or alert.fingerprint} firing" + (f": {summary}" if summary else "")
    return Job(alert.fingerprint, alert.name, decision.revision, reason)


class Ledger:
    """:class:`Seen`, remembered across restarts in an optional ``--state`` file.

    The file is JSON lines, appended (one ``write`` per record, so a crash loses at
    most the record being written): ``claimed`` and ``released`` keys, ``restored``
    revisions. A rollback is claimed in memory when queued and on disk when it starts:
    a receiver stopped before a queued rollback started forgets it, and Alertmanager's
    next notification (``repeat_interval``) asks again.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.seen = Seen()
        self.path = path
        self._out: JsonlAppender | None = None
        if path is not None:
            self._load(path)
            try:
                self._out = JsonlAppender(path)
            except OSError as err:
                raise UsageError(f"--state: {path}: cannot write: {err.strerror or err}") from err

    def _load(self, path: Path) -> None:
        try:
            for number, record in read_numbered(path):
                self._replay(record, f"{path}:{number}")
        except RunDirError as err:
            raise UsageError(f"--state: {err}") from err

    def _replay(self, record: Mapping[str, Any], where: str) -> None:
        kind, fingerprint, revision = (record.get(k) for k in ("type", "fingerprint", "revision"))
        if revision is not None and not isinstance(revision, str):
            raise UsageError(f"--state: {where}: revision: expected a string, got {revision!r}")
        if kind == "restored" and revision is not None:
            self.seen.restored.add(revision)
        elif kind in ("claimed", "released") and isinstance(fingerprint, str):
            key = (fingerprint, revision)
            (self.seen.claims.add if kind == "claimed" else self.seen.claims.discard)(key)
        else:
            shown = json.dumps(dict(record))[:120]
            raise UsageError(f"--state: {where}: not a record of this receiver: {shown}")

    def claimed(self, fingerprint: str, revision: str | None) -> None:
        self.seen.claims.add((fingerprint, revision))
        self._write("claimed", fingerprint=fingerprint, revision=revision)

    def released(self, fingerprint: str, revision: str | None) -> None:
        self.seen.claims.discard((fingerprint, revision))
        self._write("released", fingerprint=fingerprint, revision=revision)

    def restored(self, revision: str) -> None:
        if revision not in self.seen.restored:
            self.seen.restored.add(revision)
            self._write("restored", revision=revision)

    def _write(self, kind: str, **fields: Any) -> None:
        if self._out is not None:
            self._out.append({"type": kind, "ts": time.time(), **fields})

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def parse_listen(text: str) -> tuple[str, int]:
    """``127.0.0.1:9094`` (or ``[::1]:9094``, ``localhost:0``) as host and port; loopback only."""
    host, sep, port_text = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise UsageError(f"--listen: expected HOST:PORT such as 127.0.0.1:9094, got {text!r}")
    if not is_loopback(host):
        raise UsageError(
            f"--listen: {host!r} is not a loopback address: the receiver listens on "
            "127.0.0.1 only (safety rule: put a proxy in front to reach it from elsewhere)"
        )
    return ("127.0.0.1" if host == "localhost" else host), int(port_text)


def read_secret(name: str, environ: Mapping[str, str]) -> str:
    """The shared secret from ``environ[name]``; refuses to serve without one."""
    secret = environ.get(name, "").strip()  # Alertmanager trims credentials_file too
    if not secret:
        raise UsageError(
            f"${name} is unset or empty: set it to the secret Alertmanager sends as "
            "'Authorization: Bearer <secret>' (http_config.authorization.credentials_file)"
        )
    return secret
