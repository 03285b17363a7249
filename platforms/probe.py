"""One HTTP GET turned into a :class:`~platforms.base.Health`: how platforms check a target.

A probe never raises for an unreachable or failing target: that is what ``Health.ok``
False is for, with the reason in ``detail``. Proxies from the environment are ignored
(``trust_env=False``) so a loopback URL is never rerouted.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from platforms.base import Health

__all__ = ["DEFAULT_PROBE_TIMEOUT_S", "http_health"]

DEFAULT_PROBE_TIMEOUT_S = 2.0


def http_health(
    url: str,
    *,
    accept: Callable[[int], bool],
    timeout_s: float = DEFAULT_PROBE_TIMEOUT_S,
    transport: httpx.BaseTransport | None = None,
) -> Health:
    """GET ``url`` once; ok when ``accept(status)`` is true, else why not.

    ``detail`` is ``GET <url>: http <status>`` or ``GET <url>: <error type>: <error>``.
    """
    try:
        with httpx.Client(
            timeout=httpx.Timeout(timeout_s), trust_env=False, transport=transport
        ) as client:
            status = client.get(url).status_code
    except httpx.HTTPError as err:
        return Health(ok=False, detail=f"GET {url}: {type(err).__name__}: {err}")
    return Health(ok=accept(status), detail=f"GET {url}: http {status}")
