"""The ``collect:`` section of a plan: how the peak-day collector (``peakops collect``) runs.

The collector watches a production OMS without flooding it: stock probes at
``target.probes.rate``, metrics served on loopback, and only with ``canary`` set one
test order (and its cancel) every ``canary.every``. Documented in ``docs/collect.md``.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import Field, field_validator

from slo.conventions import CHANNELS
from slo.durations import format_duration
from slo.fields import PlanModel, Seconds, at_most_s

__all__ = [
    "DEFAULT_LISTEN",
    "LISTEN_HOSTS",
    "MIN_CANARY_EVERY_S",
    "Canary",
    "Collect",
    "parse_listen",
]

DEFAULT_LISTEN: Final = "127.0.0.1:9464"
"""Where the collector serves ``/metrics`` unless the plan or ``--listen`` says."""

LISTEN_HOSTS: Final = ("127.0.0.1", "::1", "localhost")
"""The only hosts the metrics endpoint may bind: a scraper on the same machine (or a
tunnel to it) reads it; nothing else can."""

MIN_CANARY_EVERY_S: Final = 1.0
"""A canary more often than once a second is load on production, not a canary."""

_LISTEN = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})$")
_SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9464`` for IPv6) as ``(host, port)``; port 0 picks a free one.

    Raises ``ValueError`` for anything else, and for a host other than ``LISTEN_HOSTS``.
    """
    match = _LISTEN.match(text.strip())
    if match is None:
        raise ValueError(f"expected host:port (e.g. {DEFAULT_LISTEN}), got {text!r}")
    host = (match["v6"] or match["host"]).lower()
    port = int(match["port"])
    if port > 65535:
        raise ValueError(f"port {port} is out of range (0-65535)")
    if host not in LISTEN_HOSTS:
        raise ValueError(
            f"host {host!r} is not loopback: metrics are served on {', '.join(LISTEN_HOSTS)} "
            "only (scrape from this machine, or tunnel to it)"
        )
    return host, port


class Canary(PlanModel):
    """A synthetic order and its cancel, every ``every``, on one test SKU.

    Without a ``canary`` section the collector never places an order.
    """

    # One an hour apart says nothing about an hour-long outage.
    every_s: Annotated[Seconds, at_most_s(3600)] = Field(
        validation_alias="every", serialization_alias="every"
    )
    sku: str
    """The test SKU ordered (one unit); set it up in the OMS for this purpose."""
    channel: str = "web"
    location: str | None = None
    """Where the order is placed; None lets the OMS choose."""

    @field_validator("every_s")
    @classmethod
    def _check_every(cls, value: float) -> float:
        if value < MIN_CANARY_EVERY_S:
            raise ValueError(f"expected at least {format_duration(MIN_CANARY_EVERY_S)}, "
                             f"got {format_duration(value)}")  # fmt: skip
        return value

    @field_validator("sku")
    @classmethod
    def _check_sku(cls, value: str) -> str:
        if not _SKU.fullmatch(value):
            raise ValueError(
                f"invalid sku {value!r}: use letters, digits and '._:/-' (at most 128)"
            )
        return value

    @field_validator("channel")
    @classmethod
    def _check_channel(cls, value: str) -> str:
        if value not in CHANNELS:
            raise ValueError(f"unknown channel {value!r} (expected one of: {', '.join(CHANNELS)})")
        return value


class Collect(PlanModel):
    """The peak-day collector: where it serves metrics, and its optional canary."""

    listen: str = DEFAULT_LISTEN
    """``host:port`` of ``/metrics``: loopback only (``--listen`` overrides)."""
    canary: Canary | None = None
    # The bracket of a timed convergence lag: a wider one (a SKU probed once a minute)
    # says nothing about a lag of seconds. None: four revisits of a hot SKU, at least 2 s.
    lag_resolution_s: Annotated[Seconds, at_most_s(600)] | None = Field(
        default=None, gt=0, validation_alias="lagResolution", serialization_alias="lagResolution"
    )

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        parse_listen(value)
        return value
