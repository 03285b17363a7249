"""Push dashboards to Grafana and post annotations, with grafana-client.

The URL is checked before any connection (loopback, or a host the operator allowed:
``PEAKOPS_ALLOWED_HOSTS`` or ``--allow-host``, as for every operator-given host). The
token comes from ``GRAFANA_TOKEN`` only; it is handed to the client and never put in a
message, a log or a file. Every failure of Grafana is an ``InfraError`` (exit 3) that
says what was asked and what Grafana answered: 401 (the token), 404, 412 (version
conflict), 5xx, unreachable, timeout.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from grafana_client import GrafanaApi
from grafana_client.client import (
    GrafanaClientError,
    GrafanaException,
    GrafanaServerError,
    GrafanaTimeoutError,
    GrafanaUnauthorizedError,
)
from niquests.exceptions import RequestException

from dashboards.annotations import Annotation
from dashboards.render import render_json
from slo.errors import InfraError, UsageError
from slo.hosts import ALLOWED_HOSTS_ENV, is_loopback, mask_url, normalise_host, normalise_url
from slo.hosts import url_host as host_of

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "TOKEN_ENV",
    "Pushed",
    "checked_url",
    "connect",
    "dry_run_diff",
    "folder_uid",
    "post_annotations",
    "push_dashboards",
    "where_of",
]

TOKEN_ENV: Final = "GRAFANA_TOKEN"
DEFAULT_TIMEOUT_S: Final = 10.0
T = TypeVar("T")


def checked_url(url: str, operator_hosts: Iterable[str], *, field: str) -> str:
    """``url`` normalised if it may be contacted: loopback or an operator-allowed host."""
    try:
        normalised, host = normalise_url(url), host_of(url)
    except ValueError as err:
        raise UsageError(f"{field}: {err}") from None  # a cause would quote the raw URL
    if not is_loopback(host) and host not in {normalise_host(h) for h in operator_hosts}:
        raise UsageError(
            f"{field}: host {host!r} is not allowed by the operator: "
            f"set {ALLOWED_HOSTS_ENV}={host} or pass --allow-host {host}"
        )
    return normalised


def connect(url: str, token: str | None, timeout_s: float = DEFAULT_TIMEOUT_S) -> GrafanaApi:
    """A client for ``url`` (already checked), redirects refused (they could lead to a
    host nobody allowed)."""
    if not token:
        raise UsageError(f"{TOKEN_ENV} is not set: export a Grafana service-account token")
    api = GrafanaApi.from_url(url, credential=token, timeout=timeout_s)
    api.client.s.max_redirects = 0
    return api


def _call(what: str, where: str, call: Callable[[], T]) -> T:
    """``call()``, every failure an ``InfraError`` naming ``what`` and the answer."""
    try:
        return call()
    except (GrafanaException, RequestException) as err:
        raise _infra(what, where, err) from err


def _infra(what: str, where: str, err: Exception) -> InfraError:
    if isinstance(err, GrafanaUnauthorizedError):
        return InfraError(
            f"grafana at {where} refused the token (401 unauthorized) to {what}: check {TOKEN_ENV}"
        )
    if isinstance(err, GrafanaServerError):
        return InfraError(
            f"grafana at {where} failed to {what}: HTTP {err.status_code}: {_said(err)}"
        )
    if isinstance(err, GrafanaTimeoutError):
        return InfraError(f"grafana at {where} did not answer in time to {what}")
    if isinstance(err, GrafanaClientError):
        return InfraError(f"grafana at {where} refused to {what}: {_client_reason(err)}")
    return InfraError(f"grafana at {where} is unreachable to {what}: {_short(err)}")


def _said(err: GrafanaException) -> str:
    body = err.response
    if isinstance(body, Mapping) and "message" in body:
        return str(body["message"])
    return _short(body) or "no message"


def _short(value: object) -> str:
    return re.sub(r"\s+", " ", str(value or "")).strip()[:200]


def _client_reason(err: GrafanaClientError) -> str:
    code = err.status_code
    if code == 412:
        return (
            f"version conflict (412 precondition failed): {_said(err)}; the dashboard "
            "changed in Grafana, or another with its name exists in the folder"
        )
    if code == 404:
        return f"not found (404): {_said(err)}"
    if code == 403:
        return f"forbidden (403): the token's role may not do this: {_said(err)}"
    return f"HTTP {code}: {_said(err)}"


def folder_uid(title: str) -> str:
    """The uid peakops gives the folder it creates for ``title``."""
    slug = re.sub(r"[^a-z0-9-]+", "-", title.lower()).strip("-") or "folder"
    return f"peakops-{slug}"[:40]


def _absent(what: str, where: str, call: Callable[[], T]) -> tuple[bool, T | None]:
    """``(True, None)`` when Grafana answers 404, else ``(False, call())``."""
    try:
        return False, call()
    except GrafanaClientError as err:
        if err.status_code == 404 and not isinstance(err, GrafanaUnauthorizedError):
            return True, None
        raise _infra(what, where, err) from err
    except (GrafanaException, RequestException) as err:
        raise _infra(what, where, err) from err


def _ensure_folder(api: GrafanaApi, where: str, title: str) -> str:
    uid = folder_uid(title)
    missing, _ = _absent(f"read folder {uid}", where, lambda: api.folder.get_folder(uid))
    if missing:
        _call(f"create folder {title!r}", where, lambda: api.folder.create_folder(title, uid=uid))
    return uid


@dataclass(frozen=True)
class Pushed:
    """One dashboard pushed: its uid, Grafana's version and URL."""

    uid: str
    version: int | None
    url: str | None


def push_dashboards(api: GrafanaApi, where: str, docs: Sequence[Mapping[str, Any]], *,
                    folder: str | None, message: str) -> tuple[Pushed, ...]:  # fmt: skip
    """Overwrite each dashboard (by uid) in Grafana, in ``folder`` (created if missing)."""
    folder_ref = _ensure_folder(api, where, folder) if folder else None
    out = []
    for doc in docs:
        body: dict[str, Any] = {"dashboard": {**doc, "id": None}, "overwrite": True,
                                "message": message}  # fmt: skip
        if folder_ref is not None:
            body["folderUid"] = folder_ref
        uid = str(doc.get("uid"))

        def save(body: dict[str, Any] = body) -> Any:
            return api.dashboard.update_dashboard(body)

        answer = _call(f"save dashboard {uid}", where, save)
        answer = answer if isinstance(answer, Mapping) else {}
        out.append(Pushed(uid, answer.get("version"), answer.get("url")))
    return tuple(out)


def _current(api: GrafanaApi, where: str, uid: str) -> dict[str, Any] | None:
    _, answer = _absent(f"read dashboard {uid}", where, lambda: api.dashboard.get_dashboard(uid))
    doc = answer.get("dashboard") if isinstance(answer, Mapping) else None
    return dict(doc) if isinstance(doc, Mapping) else None


_SERVER_FIELDS = ("id", "version")
"""Fields Grafana sets itself: left out of the comparison."""


def dry_run_diff(api: GrafanaApi, where: str, docs: Sequence[Mapping[str, Any]]) -> str:
    """A unified diff from each dashboard in Grafana to ours ("" when all are equal);
    a dashboard Grafana does not have diffs against nothing."""
    out: list[str] = []
    for doc in docs:
        uid = str(doc.get("uid"))
        current = _current(api, where, uid)
        ours = {k: v for k, v in doc.items() if k not in _SERVER_FIELDS}
        theirs = "" if current is None else render_json(
            {k: v for k, v in current.items() if k not in _SERVER_FIELDS}
        )  # fmt: skip
        out += difflib.unified_diff(
            theirs.splitlines(keepends=True), render_json(ours).splitlines(keepends=True),
            fromfile=f"grafana {uid}" + (" (absent)" if current is None else ""),
            tofile=f"peakops {uid}",
        )  # fmt: skip
    return "".join(out)


def post_annotations(api: GrafanaApi, where: str,
                     annotations: Iterable[Annotation]) -> int:  # fmt: skip
    """Post each annotation (organisation-wide, found by its tags); how many."""
    posted = 0
    for note in annotations:
        body = note.payload()

        def post(p: dict[str, Any] = body) -> Any:
            return api.annotations.add_annotation(
                time_from=p["time"], time_to=p["timeEnd"], tags=p["tags"], text=p["text"]
            )

        _call(f"post annotation {note.text!r}", where, post)
        posted += 1
    return posted


def where_of(url: str) -> str:
    """``url`` for messages (userinfo masked)."""
    return mask_url(url)
