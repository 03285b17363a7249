"""Reach the local platform of a running rehearsal: deploy a version, roll back, list revisions.

The local platform lives inside its ``peakops rehearse`` process. That process serves a
small control API on 127.0.0.1 (``rehearsal.control``) and writes where, with a
random token, to ``control.json`` in its run directory (mode 0600, removed when the
rehearsal ends). ``peakops deploy``, ``peakops rollback --platform local``,
``peakops watch`` and ``peakops rollback serve`` use this client::

    GET  /revisions                  -> {"current", "revisions", "kind", "run_id"}
    POST /deploy    {version, reason, source}
    POST /rollback  {to_revision, reason, source}
                                     -> {"action", "from_revision", "to_revision", "message"}

Every request carries ``Authorization: Bearer <token>``. Errors come back as JSON
``{"error", "exit_code"}``: 2 (a refusal or a bad request) becomes ``UsageError``, 5
(the rollout failed) ``RevertError``, anything else ``InfraError``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from slo.errors import InfraError, RevertError, UsageError
from slo.hosts import is_loopback, url_host
from slo.runfiles import CONTROL_FILE

__all__ = ["LocalControl", "Revisions"]

DEFAULT_TIMEOUT_S = 90.0
"""A deploy or a rollback replaces every replica, each healthy before the next."""


@dataclass(frozen=True)
class Revisions:
    """What the platform runs now, and every revision it has run, oldest first."""

    current: str | None
    revisions: tuple[str, ...]
    kind: str


class LocalControl:
    """A client of one rehearsal's control API (see the module doc)."""

    def __init__(
        self,
        url: str,
        token: str,
        run_id: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not is_loopback(url_host(url)):
            raise UsageError(f"control endpoint {url!r} is not on 127.0.0.1: refused")
        self.url, self.run_id = url.rstrip("/"), run_id
        self._token = token
        self._timeout_s = timeout_s
        self._transport = transport

    @classmethod
    def from_run_dir(cls, run_dir: Path, **kwargs: Any) -> LocalControl:
        """The control API of the rehearsal writing ``run_dir``; UsageError when none."""
        path = Path(run_dir) / CONTROL_FILE
        if not Path(run_dir).is_dir():
            raise UsageError(f"{run_dir}: no such run directory")
        try:
            data = json.loads(path.read_text())
            url, token, run_id = str(data["url"]), str(data["token"]), str(data["run_id"])
        except FileNotFoundError:
            raise UsageError(
                f"{path}: not found: the rehearsal of {run_dir} is not running on the "
                "local platform (control.json exists only while it runs)"
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UsageError(f"{path}: unreadable control file: {err}") from err
        return cls(url, token, run_id, **kwargs)

    def revisions(self) -> Revisions:
        data = self._call("GET", "/revisions")
        return Revisions(
            current=None if data.get("current") is None else str(data["current"]),
            revisions=tuple(str(r) for r in data.get("revisions") or ()),
            kind=str(data.get("kind", "local")),
        )

    def deploy(self, version: str, *, reason: str = "", source: str = "cli") -> dict[str, Any]:
        """Roll ``version`` out (every replica replaced, each healthy before the next)."""
        return self._call("POST", "/deploy", {"version": version, "reason": reason,
                                               "source": source})  # fmt: skip

    def rollback(
        self, *, reason: str, source: str = "cli", to_revision: str | None = None
    ) -> dict[str, Any]:
        """Roll back (to ``to_revision``, else the previous): ``action`` (rolled_back,
        nothing_to_do, refused), ``from_revision``, ``to_revision``, ``message``."""
        return self._call(
            "POST", "/rollback", {"to_revision": to_revision, "reason": reason, "source": source}
        )

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            with httpx.Client(
                trust_env=False, timeout=self._timeout_s, transport=self._transport
            ) as client:
                response = client.request(
                    method, f"{self.url}{path}", json=body,
                    headers={"Authorization": f"Bearer {self._token}"},
                )  # fmt: skip
        except httpx.HTTPError as err:
            raise InfraError(
                f"the rehearsal of run {self.run_id} does not answer on {self.url} "
                f"({type(err).__name__}: {err}): is it still running?"
            ) from err
        try:
            data = response.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if response.status_code >= 400:
            message = str(data.get("error") or f"HTTP {response.status_code}")
            code = data.get("exit_code")
            if code == 2:
                raise UsageError(message)
            if code == 5:
                raise RevertError(message)
            raise InfraError(f"control endpoint of run {self.run_id}: {message}")
        return data
