"""Small, dependency-free SVG charts for ``report.html``: lines over time, shaded windows.

Charts are drawn here, server-side, as inline SVG: the report needs no script, no
font and no network to render, stays small (coordinates to one decimal), and two
renders of the same figures are the same bytes. Time runs along x in seconds after the
load started; shaded windows mark faults, deploys and rollbacks; horizontal rules mark
objectives (an SLO's threshold). A ``None`` value breaks a line (no data there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["PALETTE", "Rule", "Series", "Shade", "line_chart", "nice_ticks"]

PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#17becf",
    "#bcbd22",
)
"""Line colours, in the order series are given (tab10: readable on white, in print)."""

SHADE_COLOURS = {"fault": "#f7c6c5", "deploy": "#c9def5", "rollback": "#cdebc5"}

_WIDTH, _HEIGHT = 760, 230
_LEFT, _RIGHT, _TOP, _BOTTOM = 62, 14, 30, 34


@dataclass(frozen=True)
class Series:
    """One line: ``points`` are ``(seconds, value)``; a None value leaves a gap."""

    name: str
    points: Sequence[tuple[float, float | None]]
    colour: str = ""
    dashed: bool = False


@dataclass(frozen=True)
class Shade:
    """A window shaded behind the lines: ``kind`` is ``fault``, ``deploy`` or ``rollback``."""

    label: str
    start: float
    end: float
    kind: str = "fault"


@dataclass(frozen=True)
class Rule:
    """A horizontal line at ``value``, e.g. an objective's threshold."""

    label: str
    value: float


@dataclass(frozen=True)
class _Frame:
    """Maps data to pixels inside the plot area."""

    x0: float
    x1: float
    y0: float
    y1: float
    log: bool
    width: int
    height: int

    def x(self, value: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return _LEFT + (value - self.x0) / span * (self.width - _LEFT - _RIGHT)

    def y(self, value: float) -> float:
        low, high, v = self.y0, self.y1, value
        if self.log:
            low, high, v = math.log10(low), math.log10(high), math.log10(max(value, self.y0))
        span = (high - low) or 1.0
        bottom = self.height - _BOTTOM
        return bottom - (min(max(v, low), high) - low) / span * (bottom - _TOP)


def nice_ticks(high: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``high`` (steps of 1, 2 or 5 times 10^k)."""
    if not math.isfinite(high) or high <= 0:
        return [0.0, 1.0]
    raw = high / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _log_ticks(low: float, high: float) -> list[float]:
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    return [10.0**k for k in range(first, last + 1)]


def _fmt(value: float) -> str:
    """A coordinate: one decimal, no ``-0.0``."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def _label(value: float) -> str:
    """A tick label: short, no needless decimals."""
    if value == 0:
        return "0"
    if abs(value) >= 10000:
        return f"{value / 1000:g}k"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:g}"


def _frame(
    series: Sequence[Series],
    shades: Sequence[Shade],
    rules: Sequence[Rule],
    x_range: tuple[float, float] | None,
    log: bool,
    size: tuple[int, int],
) -> tuple[_Frame, list[float]]:
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points if y is not None and math.isfinite(y)]
    ys += [r.value for r in rules]
    if x_range is not None:
        x0, x1 = x_range
    else:
        x0 = min([*xs, *(s.start for s in shades), 0.0])
        x1 = max([*xs, *(s.end for s in shades), x0 + 1.0])
    if log:
        positive = [y for y in ys if y > 0] or [1.0]
        y0 = 10.0 ** math.floor(math.log10(min(positive)))
        y1 = 10.0 ** math.ceil(math.log10(max(positive) * 1.0001))
        ticks = _log_ticks(y0, max(y1, y0 * 10))
        return _Frame(x0, x1, ticks[0], ticks[-1], True, *size), ticks
    ticks = nice_ticks(max(ys, default=1.0))
    return _Frame(x0, x1, 0.0, ticks[-1], False, *size), ticks


def _axes(frame: _Frame, y_ticks: list[float], x_label: str, y_label: str) -> list[str]:
    bottom, right = frame.height - _BOTTOM, frame.width - _RIGHT
    out = [
        f'<rect x="{_LEFT}" y="{_TOP}" width="{right - _LEFT}" height="{bottom - _TOP}" '
        'fill="none" stroke="#bbb"/>'
    ]
    for tick in y_ticks:
        y = _fmt(frame.y(tick))
        out.append(f'<line x1="{_LEFT}" x2="{right}" y1="{y}" y2="{y}" stroke="#eee"/>')
        out.append(f'<text x="{_LEFT - 4}" y="{y}" text-anchor="end" dy="3">{_label(tick)}</text>')
    for tick in nice_ticks(frame.x1 - frame.x0, 8):
        value = frame.x0 + tick
        if value > frame.x1 + 1e-9:
            break
        x = _fmt(frame.x(value))
        out.append(f'<line x1="{x}" x2="{x}" y1="{bottom}" y2="{bottom + 4}" stroke="#999"/>')
        out.append(f'<text x="{x}" y="{bottom + 15}" text-anchor="middle">{_label(value)}</text>')
    out.append(
        f'<text x="{(_LEFT + right) // 2}" y="{frame.height - 4}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    out.append(
        f'<text x="12" y="{(_TOP + bottom) // 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {(_TOP + bottom) // 2})">{escape(y_label)}</text>'
    )
    return out


def _shades(frame: _Frame, shades: Sequence[Shade]) -> list[str]:
    out = []
    bottom = frame.height - _BOTTOM
    for shade in shades:
        left = max(frame.x(shade.start), _LEFT)
        right = min(frame.x(max(shade.end, shade.start)), frame.width - _RIGHT)
        if right < left:
            continue
        colour = SHADE_COLOURS.get(shade.kind, "#e5e5e5")
        out.append(
            f'<rect x="{_fmt(left)}" y="{_TOP}" width="{_fmt(max(right - left, 1.0))}" '
            f'height="{bottom - _TOP}" fill="{colour}" opacity="0.7">'
            f"<title>{escape(shade.label)}</title></rect>"
        )
        out.append(
            f'<text x="{_fmt(left + 2)}" y="{_TOP + 10}" class="shade">'
            f"{escape(shade.label[:24])}</text>"
        )
    return out


def _path(frame: _Frame, series: Series) -> str:
    parts, pen_down = [], False
    for x, y in series.points:
        if y is None or not math.isfinite(y):
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{_fmt(frame.x(x))} {_fmt(frame.y(y))}")
        pen_down = True
    dash = ' stroke-dasharray="5 3"' if series.dashed else ""
    return (
        f'<path d="{"".join(parts)}" fill="none" stroke="{series.colour}" '
        f'stroke-width="1.6"{dash}><title>{escape(series.name)}</title></path>'
    )


def _legend(series: Sequence[Series], rules: Sequence[Rule], width: int) -> list[str]:
    out, x = [], _LEFT
    for item in series:
        out.append(f'<rect x="{x}" y="8" width="10" height="10" fill="{item.colour}"/>')
        out.append(f'<text x="{x + 14}" y="17">{escape(item.name)}</text>')
        x += 24 + 7 * len(item.name)
        if x > width - 80:
            break
    for rule in rules:
        if x > width - 80:
            break
        out.append(
            f'<line x1="{x}" x2="{x + 14}" y1="13" y2="13" stroke="#333" stroke-dasharray="2 2"/>'
        )
        out.append(f'<text x="{x + 18}" y="17">{escape(rule.label)}</text>')
        x += 28 + 7 * len(rule.label)
    return out


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    y_label: str,
    x_label: str = "seconds after the load started",
    shades: Sequence[Shade] = (),
    rules: Sequence[Rule] = (),
    x_range: tuple[float, float] | None = None,
    log: bool = False,
    size: tuple[int, int] = (_WIDTH, _HEIGHT),
) -> str:
    """An inline ``<svg>`` of ``series`` over time; ``log`` for a log-scale y (latency)."""
    coloured = [
        s if s.colour else Series(s.name, s.points, PALETTE[i % len(PALETTE)], s.dashed)
        for i, s in enumerate(series)
    ]
    frame, y_ticks = _frame(coloured, shades, rules, x_range, log, size)
    width, height = size
    body = [*_shades(frame, shades), *_axes(frame, y_ticks, x_label, y_label)]
    for rule in rules:
        y = _fmt(frame.y(rule.value))
        body.append(
            f'<line x1="{_LEFT}" x2="{width - _RIGHT}" y1="{y}" y2="{y}" stroke="#333" '
            f'stroke-dasharray="2 2"><title>{escape(rule.label)}</title></line>'
        )
    body += [_path(frame, s) for s in coloured]
    body += _legend(coloured, rules, width)
    return (
        f'<svg class="chart" role="img" '  # inline in HTML: no namespace needed
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>' + "".join(body) + "</svg>"
    )
