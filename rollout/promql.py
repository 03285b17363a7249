"""A small client for Prometheus' instant-query API (``GET /api/v1/query``), with timeouts.

The gate's Prometheus source (``rollout.promql_gate``) asks it for one vector at a
time. Two kinds of trouble are kept apart, because they end differently:

* ``InfraError`` (exit 3): the server cannot be reached, timed out, answered with a
  5xx, a redirect or something that is not the query API's JSON.
* ``QueryRejected``: Prometheus answered and refused the query (``status: error``,
  e.g. a 400 ``bad_data``). Not a ``PeakopsError``: the gate turns it into an
  inconclusive evaluation and never lets it reach a user as a traceback.

The URL is checked by ``prometheus_url`` (loopback, or a host the operator allowed,
as for every operator-given host; ``slo.hosts``) before any connection. Redirects are
not followed: they could lead to a host nobody allowed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from slo.errors import InfraError, UsageError
from slo.hosts import ALLOWED_HOSTS_ENV, is_loopback, mask_url, normalise_host, normalise_url
from slo.hosts import url_host as host_of

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "PromClient",
    "QueryRejected",
    "Sample",
    "prometheus_url",
]

DEFAULT_TIMEOUT_S = 10.0
"""Per query: connect, read and Prometheus' own evaluation timeout."""


class QueryRejected(Exception):
    """Prometheus answered but refused the query; ``str()`` says why."""


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector: its labels and value (``nan`` stays ``nan``)."""

    labels: Mapping[str, str] = field(default_factory=dict)
    value: float = math.nan


def prometheus_url(url: str, operator_hosts: Iterable[str], *, field: str) -> str:
    """``url`` normalised, if the gate may query it: an http(s) URL without credentials
    whose host is loopback or allowed by the operator (``PEAKOPS_ALLOWED_HOSTS`` or
    ``--allow-host``); else a ``UsageError`` naming ``field``. Pure: no connection."""
    try:
        normalised, host = normalise_url(url), host_of(url)
    except ValueError as err:
        raise UsageError(f"{field}: {err}") from None  # a cause would quote the raw URL
    allowed = {normalise_host(entry) for entry in operator_hosts}
    if not is_loopback(host) and host not in allowed:
        raise UsageError(
            f"{field}: host {host!r} is not allowed by the operator: "
            f"set {ALLOWED_HOSTS_ENV}={host} or pass --allow-host {host}"
        )
    return normalised


class PromClient:
    """Instant queries against one Prometheus; build one per gate run and close it.

    ``transport`` is for tests (``httpx.MockTransport``); the real one is httpx's.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s), transport=transport, follow_redirects=False
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PromClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def instant(self, query: str, at: float) -> tuple[Sample, ...]:
        """The instant vector ``query`` evaluates to at Unix time ``at``."""
        params = {"query": query, "time": f"{at:.3f}", "timeout": f"{self.timeout_s:g}s"}
        where = mask_url(self.base_url)
        try:
            response = self._http.get(f"{self.base_url}/api/v1/query", params=params)
        except httpx.TimeoutException as err:
            raise InfraError(
                f"prometheus at {where} did not answer within {self.timeout_s:g} s"
            ) from err
        except httpx.HTTPError as err:
            raise InfraError(f"prometheus at {where} is unreachable: {_why(err)}") from err
        return _vector(response, where)


def _vector(response: httpx.Response, where: str) -> tuple[Sample, ...]:
    code = response.status_code
    if code >= 500 or 300 <= code < 400:
        raise InfraError(f"prometheus at {where} answered HTTP {code} to a query")
    try:
        body: Any = response.json()
    except ValueError as err:
        raise InfraError(
            f"prometheus at {where} answered HTTP {code} with something that is not JSON: "
            "is this the Prometheus URL?"
        ) from err
    if not isinstance(body, dict) or body.get("status") not in ("success", "error"):
        raise InfraError(f"prometheus at {where} answered HTTP {code} without a query status")
    if body["status"] == "error":
        raise QueryRejected(
            f"prometheus refused the query ({body.get('errorType', 'error')}): "
            f"{body.get('error', 'no reason given')}"
        )
    data = body.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector":
        kind = data.get("resultType") if isinstance(data, dict) else None
        raise QueryRejected(f"prometheus returned a {kind or 'malformed'} result, not a vector")
    return tuple(_sample(item) for item in data.get("result") or [])


def _sample(item: Any) -> Sample:
    try:
        labels = {str(k): str(v) for k, v in dict(item.get("metric") or {}).items()}
        return Sample(labels, float(item["value"][1]))  # "NaN", "+Inf" parse as floats
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as err:
        raise QueryRejected(f"prometheus returned a malformed sample: {item!r:.120}") from err


def _why(err: httpx.HTTPError) -> str:
    text = str(err) or type(err).__name__
    return text.splitlines()[0][:200]
