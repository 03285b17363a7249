"""Kubernetes client errors as peakops errors: which call failed, the status, the reason.

Messages carry the API server's own ``message`` and never request headers, bodies or
credentials. Statuses a caller expects (404 on a delete, 409 on a create) surface as
:class:`Tolerated` so the caller can handle them without parsing messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from slo.errors import InfraError, PeakopsError

__all__ = ["Tolerated", "api_errors", "describe"]


class Tolerated(Exception):
    """An API status the caller expects and handles (e.g. 404 on a delete)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"http {status}")
        self.status = status


@contextmanager
def api_errors(
    what: str,
    *,
    host: str,
    error: type[PeakopsError] = InfraError,
    tolerate: tuple[int, ...] = (),
) -> Iterator[None]:
    """Turn client errors into ``error`` (chained); statuses in ``tolerate`` into Tolerated.

    ``what`` says which call failed, e.g. ``deleting pod shop/orders-1``.
    """
    try:
        yield
    except ApiException as err:
        if err.status in tolerate:
            raise Tolerated(err.status) from err
        raise error(f"{what}: {describe(err)}") from err
    except (HTTPError, OSError) as err:
        raise error(
            f"{what}: no answer from the kubernetes api at {host} ({type(err).__name__})"
        ) from err
    except ValueError as err:  # pydantic ValidationError, bad JSON: the cause is chained
        raise error(
            f"{what}: unexpected data exchanged with the kubernetes api at {host} "
            f"({type(err).__name__})"
        ) from err


def describe(err: ApiException) -> str:
    """``http 403 Forbidden: <the server's message>``, never headers or request data."""
    text = f"http {err.status} {err.reason or ''}".rstrip()
    try:
        message = json.loads(err.body or "").get("message")
    except (ValueError, AttributeError):
        message = None
    if isinstance(message, str) and message:
        text += f": {message[:300]}"
    if err.status == 403:
        text += " (check peakops' RBAC: docs/kubernetes.md)"
    return text
