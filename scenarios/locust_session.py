"""Locust's ``FastHttpSession`` as the journeys use it on the hot path.

``Direct`` sends the requests judged by status alone without Locust's ``request``
wrapper and reports them to Locust's ``request`` event itself; ``tag_session`` puts the
run's constant headers into the HTTP client's defaults once. Both fall back (None,
False) for a client that is not Locust's, such as a test's fake.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Direct", "RequestFailed", "body_length", "tag_session"]


class RequestFailed(Exception):
    """How Locust's stats show a request we judged failed (the message is its kind)."""


class Direct:
    """Locust's ``FastHttpSession`` without its ``request`` wrapper, for requests judged
    by their status alone: the session's own send (its HTTP client, with the failures it
    catches turned into a response with ``error``), then one ``request`` event with our
    verdict and timing, as Locust documents for custom clients. What the wrapper adds to
    every request (``Accept-Encoding``, basic auth from the URL) goes into the session's
    default headers once. Measured (docs/benchmarks.md): ~8 µs less per request than
    ``request`` with ``catch_response``."""

    ACCEPT_ENCODING = "gzip, deflate, br"  # as FastHttpSession.request sends it

    def __init__(self, session: Any) -> None:
        self.send = session._send_request_safe_mode
        self._fire = session.request_event.fire
        self._user = session.user
        self.defaults = {"Accept-Encoding": self.ACCEPT_ENCODING}
        if session.auth_header:
            self.defaults["Authorization"] = session.auth_header

    @classmethod
    def of(cls, client: Any) -> Direct | None:
        """For Locust's ``FastHttpSession``; None for any other client (a test's fake)."""
        needs = ("_send_request_safe_mode", "request_event", "auth_header", "user")
        if not all(hasattr(client, name) for name in needs):
            return None
        return cls(client)

    def report(
        self, method: str, name: str, url: str, resp: Any, start_time: float, seconds: float,
        length: int, kind: str,
    ) -> None:  # fmt: skip
        """One request to Locust's stats, failed under ``kind`` unless it is empty."""
        self._fire(
            request_type=method, name=name,
            context=self._user.context() if self._user is not None else {},
            response=resp, exception=RequestFailed(kind) if kind else None,
            start_time=start_time, url=url, response_time=seconds * 1000,
            response_length=length,
        )  # fmt: skip


def body_length(resp: Any) -> int:
    """The body's length, read now (its time is the request's); 0 when it cannot be read:
    the status still judges the request, as with ``catch_response`` before."""
    try:
        content = resp.content
    except Exception:
        return 0
    return len(content) if content else 0


def tag_session(client: Any, tag: dict[str, str]) -> bool:
    """Put ``tag`` into the default headers of Locust's HTTP client, sent with every
    request; False when ``client`` has none (a test's fake): then each request carries it."""
    defaults = getattr(getattr(client, "client", None), "default_headers", None)
    if defaults is None:
        return False
    defaults.update(tag)
    return True
