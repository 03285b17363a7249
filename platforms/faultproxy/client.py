"""The client side of the fault proxy: its control API, and faults that revert themselves.

:class:`FaultProxyClient` speaks the control API of ``platforms.faultproxy`` (127.0.0.1
only). :class:`LeasedFault` adds a toxic for the span of a ``with`` block, renews its
lease from a daemon thread, and removes it on the way out. If the injecting process
dies (even by SIGKILL), renewals stop and the proxy drops the toxic once its lease
lapses: the dead-man's switch of DESIGN.md's safety rules. See docs/faults.md.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from platforms.processes import join_started
from slo.errors import InfraError, RevertError, UsageError

__all__ = ["DEFAULT_LEASE_S", "FaultProxyClient", "LeasedFault"]

DEFAULT_LEASE_S = 5.0
"""A toxic's lease when none is given; the proxy accepts up to 60 s."""

_LOOPBACK = "127.0.0.1"

_log = logging.getLogger(__name__)


def _loopback_url(control_url: str) -> httpx.URL:
    try:
        url = httpx.URL(control_url)
    except httpx.InvalidURL as err:
        raise UsageError(f"fault proxy control url {control_url!r} is invalid: {err}") from err
    if url.scheme != "http" or url.host != _LOOPBACK or url.port is None:
        raise UsageError(
            f"fault proxy control url must be http://{_LOOPBACK}:PORT (loopback only),"
            f" got {control_url!r}"
        )
    return url


class FaultProxyClient:
    """Talks to one fault proxy's control API at ``control_url`` (``http://127.0.0.1:PORT``).

    Any other host is refused with UsageError before anything is sent. An unreachable
    proxy or an unexpected answer raises InfraError; a toxic the proxy rejects (bad
    attribute, name taken) raises UsageError with the proxy's reason. ``transport`` is
    for tests (``httpx.MockTransport``). Usable from several threads.
    """

    def __init__(
        self,
        control_url: str,
        *,
        timeout_s: float = 2.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.control_url = str(_loopback_url(control_url)).rstrip("/")
        self._http = httpx.Client(
            base_url=self.control_url,
            timeout=httpx.Timeout(timeout_s),
            trust_env=False,  # no proxy env var may reroute loopback traffic
            transport=transport,
        )

    def add(
        self,
        name: str,
        type: str,
        attributes: Mapping[str, float] | None = None,
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> dict[str, Any]:
        """Add a toxic; return it as the proxy describes it (with ``expires_in_s``)."""
        body = {
            "name": name,
            "type": type,
            "attributes": dict(attributes or {}),
            "stream": stream,
            "toxicity": toxicity,
            "lease_s": lease_s,
        }
        return self._json(self._call("POST", "/toxics", body, expect=(201,)))

    def remove(self, name: str) -> bool:
        """Remove a toxic; False if it was already gone (removed, or its lease lapsed)."""
        return self._call("DELETE", f"/toxics/{name}", None, expect=(204, 404)).status_code == 204

    def renew(self, name: str, lease_s: float = DEFAULT_LEASE_S) -> dict[str, Any] | None:
        """Extend a toxic's lease to ``lease_s`` from now; None if it is already gone."""
        response = self._call("POST", f"/toxics/{name}/renew", {"lease_s": lease_s}, (200, 404))
        return None if response.status_code == 404 else self._json(response)

    def reset(self) -> list[str]:
        """Remove every toxic; return the names removed."""
        removed = self._json(self._call("POST", "/reset", None, expect=(200,)))["removed"]
        return [str(name) for name in removed]

    def state(self) -> dict[str, Any]:
        """The proxy's state: name, addresses, enabled, connections, toxics with leases."""
        return self._json(self._call("GET", "/proxy", None, expect=(200,)))

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> FaultProxyClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(
        self, method: str, path: str, body: object, expect: tuple[int, ...]
    ) -> httpx.Response:
        where = f"fault proxy {self.control_url}: {method} {path}"
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as err:
            raise InfraError(f"{where} failed: {type(err).__name__}: {err}") from err
        if response.status_code in expect:
            return response
        reason = response.text[:300]
        if response.status_code in (400, 409):
            raise UsageError(f"{where} refused: {reason}")
        raise InfraError(f"{where} answered http {response.status_code}: {reason}")

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError as err:
            raise InfraError(f"fault proxy {self.control_url} answered non-json") from err
        if not isinstance(payload, dict):
            raise InfraError(f"fault proxy {self.control_url} answered {payload!r}")
        return payload


class LeasedFault:
    """A toxic that exists only while the ``with`` block runs, and a little after a crash.

    On enter it adds the toxic and starts a daemon thread renewing its lease every
    ``lease_s / 3``; on exit (exceptions included) it stops renewing and removes the
    toxic, raising RevertError (exit code 5) if the proxy cannot be told. A toxic the
    proxy already dropped counts as removed. Killed without exiting, the thread dies
    with the process and the proxy removes the toxic within ``lease_s``.
    """

    def __init__(
        self,
        client: FaultProxyClient,
        name: str,
        type: str,
        attributes: Mapping[str, float] | None = None,
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        if lease_s <= 0:
            raise UsageError(f"lease_s must be more than 0, got {lease_s}")
        self.name = name
        self.lease_s = lease_s
        self.renewals = 0
        self.renew_failures = 0
        self.lapsed = False
        """True once a renewal found the toxic gone (the proxy let its lease lapse)."""
        self._client = client
        self._type = type
        self._attributes = attributes
        self._stream = stream
        self._toxicity = toxicity
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LeasedFault:
        try:
            self._client.add(
                self.name,
                self._type,
                self._attributes,
                stream=self._stream,
                toxicity=self._toxicity,
                lease_s=self.lease_s,
            )
        except InfraError:
            # The request may have landed (e.g. timed out after the proxy added it).
            self._best_effort_remove()
            raise
        self._thread = threading.Thread(
            target=self._renew_until_stopped, name=f"peakops-lease-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_renewing()
        try:
            self._client.remove(self.name)
        except (InfraError, UsageError) as err:
            raise RevertError(
                f"could not remove fault {self.name!r} at {self._client.control_url}: {err};"
                f" the proxy drops it when its {self.lease_s:g}s lease lapses"
            ) from err

    def stop_renewing(self) -> None:
        """Stop the renewing thread (the toxic then lapses unless removed)."""
        self._stopping.set()
        join_started(self._thread, timeout_s=self.lease_s + 5)
        self._thread = None

    def _renew_until_stopped(self) -> None:
        interval = self.lease_s / 3
        while not self._stopping.wait(interval):  # ends at exit, or with the process
            try:
                renewed = self._client.renew(self.name, self.lease_s)
            except (InfraError, UsageError) as err:
                self.renew_failures += 1
                _log.warning("could not renew fault %r (will retry): %s", self.name, err)
                continue
            if renewed is None:
                self.lapsed = True
                _log.warning("fault %r is gone from the proxy: its lease lapsed", self.name)
                return  # never re-add: a lapsed fault stays reverted
            self.renewals += 1

    def _best_effort_remove(self) -> None:
        try:
            self._client.remove(self.name)
        except (InfraError, UsageError) as err:
            _log.warning("could not remove fault %r after a failed add: %s", self.name, err)
