"""Burn-rate window sets (``alerts/windows/<name>.yaml``) loaded into frozen models.

A window set is data (STYLE.md, practice 6): the SLO period, the four page/ticket
window pairs with the share of the budget each may spend, the slowest scrape they
suit and Alertmanager's routing times. Burn factors are derived here from those
shares, never written down: ``factor = budget fraction x period / long window``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Annotated, Literal, Self

import yaml
from pydantic import BeforeValidator, Field, ValidationError, model_validator

from alerts.durations import format_window, parse_window
from slo.conventions import ALERT_WINDOWS, SEVERITY_PAGE, SEVERITY_TICKET
from slo.fields import PlanModel

__all__ = ["MIN_SAMPLES_PER_WINDOW", "BurnPair", "WindowSet", "load_window_set", "number"]

MIN_SAMPLES_PER_WINDOW = 4
"""Every window holds at least this many scrapes: rate() needs two, and a window of
four survives a missed scrape or two without its SLI vanishing."""


def _window(value: object) -> object:
    return parse_window(value) if isinstance(value, str) else value


Window = Annotated[int, BeforeValidator(_window), Field(gt=0)]
"""A Prometheus duration (``5m``, ``3d``) as whole seconds."""


def number(value: float) -> str:
    """A float as rules and tests print it: ten significant digits, no float noise
    (``0.02 * 720`` prints ``14.4``)."""
    return f"{value:.10g}"


class _Pair(PlanModel):
    budget_fraction: float = Field(gt=0, le=1)
    long_window: Window
    short_window: Window


class _Severity(PlanModel):
    quick: _Pair
    slow: _Pair


class _Alertmanager(PlanModel):
    group_wait: Window
    group_interval: Window
    repeat_interval: Window


@dataclass(frozen=True, slots=True)
class BurnPair:
    """One multiwindow alert: fires when both windows burn faster than ``factor``."""

    severity: str
    speed: str
    budget_fraction: float
    long_s: int
    short_s: int
    factor: float

    @property
    def long(self) -> str:
        return format_window(self.long_s)

    @property
    def short(self) -> str:
        return format_window(self.short_s)


class WindowSet(PlanModel):
    """A window set as shipped; ``pairs`` gives the four alerts with their factors."""

    api_version: Literal["peakops/v1"]
    kind: Literal["AlertWindows"]
    period: Window
    scrape_interval: Window
    evaluation_interval: Window | None = None
    no_data: Window
    page: _Severity
    ticket: _Severity
    alertmanager: _Alertmanager

    @model_validator(mode="after")
    def _check_windows(self) -> Self:
        floor = MIN_SAMPLES_PER_WINDOW * self.scrape_interval
        for pair in self.pairs:
            where = f"{pair.severity}.{pair.speed}"
            if not pair.short_s < pair.long_s <= self.period:
                raise ValueError(
                    f"{where}: need shortWindow < longWindow <= period, got "
                    f"{pair.short} / {pair.long} / {format_window(self.period)}"
                )
            if pair.short_s < floor:
                raise ValueError(
                    f"{where}: shortWindow {pair.short} holds fewer than "
                    f"{MIN_SAMPLES_PER_WINDOW} scrapes of {format_window(self.scrape_interval)}"
                )
        if self.no_data < floor:
            raise ValueError(f"noData {format_window(self.no_data)} is shorter than {floor}s")
        return self

    @property
    def pairs(self) -> tuple[BurnPair, ...]:
        """Page quick, page slow, ticket quick, ticket slow, with computed factors."""
        found = []
        for severity, windows in ((SEVERITY_PAGE, self.page), (SEVERITY_TICKET, self.ticket)):
            for speed, pair in (("quick", windows.quick), ("slow", windows.slow)):
                factor = pair.budget_fraction * self.period / pair.long_window
                found.append(
                    BurnPair(
                        severity=severity,
                        speed=speed,
                        budget_fraction=pair.budget_fraction,
                        long_s=pair.long_window,
                        short_s=pair.short_window,
                        factor=float(number(factor)),
                    )
                )
        return tuple(found)

    @property
    def windows_s(self) -> tuple[int, ...]:
        """Every window an alert reads, shortest first (the SLI recording windows)."""
        return tuple(sorted({s for p in self.pairs for s in (p.short_s, p.long_s)}))

    @property
    def long_windows_s(self) -> tuple[int, ...]:
        return tuple(sorted({p.long_s for p in self.pairs}))


@cache
def load_window_set(name: str) -> WindowSet:
    """The shipped window set ``name`` (one of ``ALERT_WINDOWS``); read once.

    An unknown name is a ``ValueError``; a broken shipped file is a bug: ``RuntimeError``.
    """
    if name not in ALERT_WINDOWS:
        raise ValueError(
            f"unknown alert window set {name!r}: use one of {', '.join(ALERT_WINDOWS)}"
        )
    path = f"windows/{name}.yaml"
    text = resources.files("alerts").joinpath(path).read_text(encoding="utf-8")
    try:
        return WindowSet.model_validate(yaml.safe_load(text))
    except ValidationError as err:  # shipped data, not user input
        raise RuntimeError(f"alerts/{path} is invalid: {err}") from err
