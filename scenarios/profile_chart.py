"""Draw a traffic profile for a terminal, and sample it as JSON-able data.

``render_chart`` is a small bar chart of orders per minute over the rehearsal, in
unicode block characters (eighths of a row), with the y axis in orders/min and the
x axis in rehearsal time, followed by a one-line summary. Each column is the mean
rate over its slice of the run (exact, from ``Profile.expected_orders``), so a short
spike is drawn at its true weight rather than missed between samples. Pure: returns
strings and dicts; no charting library.
"""

from __future__ import annotations

import math
from typing import Any

from scenarios.profiles import Preset, Profile
from slo.durations import format_duration

__all__ = [
    "preset_summary",
    "profile_samples",
    "profile_summary",
    "profile_to_dict",
    "render_chart",
]

_BLOCKS = " ▁▂▃▄▅▆▇█"
_AXIS_LABEL = "orders/min"


def render_chart(profile: Profile, width: int = 60, height: int = 10) -> str:
    """The chart of ``profile``'s orders/min, ``width`` columns by ``height`` rows."""
    if width < 8 or height < 2:
        raise ValueError(f"chart must be at least 8 x 2 characters, got {width} x {height}")
    columns = _column_means(profile, width)
    top = max(profile.peak_per_min, *columns)
    label_rows = {0: top, height // 2: top * (height - height // 2) / height}
    label_rows[height - 1] = top / height
    labels = {row: f"{value:,.0f}" for row, value in label_rows.items()}
    pad = max(len(_AXIS_LABEL) - 2, *(len(text) for text in labels.values()))
    lines = [f"{_AXIS_LABEL:>{pad + 2}}"]
    for row in range(height):
        floor = top * (height - 1 - row) / height
        cells = "".join(_cell(value, floor, top / height) for value in columns)
        lines.append(f"{labels.get(row, ''):>{pad}} ┤{cells}".rstrip())
    lines.append(f"{'0':>{pad}} └{'─' * width}")
    lines.append(" " * (pad + 2) + _x_labels(profile.duration_s, width))
    lines.append(_summary_line(profile))
    return "\n".join(lines)


def _column_means(profile: Profile, width: int) -> list[float]:
    step = profile.duration_s / width
    return [profile.expected_orders(i * step, (i + 1) * step) / step * 60.0 for i in range(width)]


def _cell(value: float, floor: float, row_height: float) -> str:
    fill = min(max((value - floor) / row_height, 0.0), 1.0)
    return _BLOCKS[round(fill * (len(_BLOCKS) - 1))]


def _x_labels(duration_s: float, width: int) -> str:
    start = "0s"
    middle, end = _time_label(duration_s / 2, duration_s), _time_label(duration_s, duration_s)
    line = [" "] * width
    line[: len(start)] = start
    mid_at = max(len(start) + 1, width // 2 - len(middle) // 2)
    line[mid_at : mid_at + len(middle)] = middle
    line[width - len(end) :] = end
    return "".join(line[:width])


def _time_label(seconds: float, run_s: float) -> str:
    """Rehearsal time: plain seconds in runs up to two minutes (``60s``), else ``5m``, ``1h30m``."""
    if run_s <= 120:
        return f"{round(seconds, 1):g}s"
    return format_duration(round(seconds))


def _summary_line(profile: Profile) -> str:
    summary, run = profile_summary(profile), profile.duration_s
    max_at = _time_label(summary["max_at_s"], run)
    text = (
        f"peak {summary['max_per_min']:,.0f} orders/min at {max_at}, "
        f"mean {summary['mean_per_min']:,.0f} orders/min, "
        f"{summary['expected_orders']:,.0f} orders in {_time_label(run, run)}"
    )
    preset = profile.preset
    natural = preset.natural_length_s
    if natural is not None:
        text += f"; {_time_label(natural, natural)} curve at {profile.compression:g}x"
    window = profile.hot_window_s()
    if window is not None:
        start, end = window
        text += (
            f"; {preset.hot_skus} hot SKUs take {preset.hot_share:.0%} of orders "
            f"{_time_label(start, run)}-{_time_label(end, run)}"
        )
    return text


def profile_summary(profile: Profile) -> dict[str, Any]:
    """Totals of a profile: expected orders, mean and highest orders/min and when."""
    max_at, max_per_min = profile.busiest()
    total = profile.expected_orders(0.0, profile.duration_s)
    return {
        "expected_orders": total,
        "mean_per_min": total / profile.duration_s * 60.0,
        "max_per_min": max_per_min,
        "max_at_s": max_at,
    }


def profile_samples(profile: Profile, step_s: float = 1.0) -> list[dict[str, float]]:
    """``{"t", "orders_per_min"}`` every ``step_s`` from 0 to the end of the run."""
    count = math.floor(profile.duration_s / step_s + 1e-9)
    times = [i * step_s for i in range(count + 1)]
    if not math.isclose(times[-1], profile.duration_s):
        times.append(profile.duration_s)
    return [{"t": t, "orders_per_min": profile.orders_per_min(t)} for t in times]


def profile_to_dict(profile: Profile, step_s: float = 1.0) -> dict[str, Any]:
    """A profile as JSON-able data: its parameters, the sampled curve and the totals."""
    window = profile.hot_window_s()
    return {
        **preset_summary(profile.preset),
        "baseline_per_min": profile.baseline_per_min,
        "peak_per_min": profile.peak_per_min,
        "duration_s": profile.duration_s,
        "compression": profile.compression,
        "hot_window_s": None if window is None else list(window),
        "samples": profile_samples(profile, step_s),
        "totals": profile_summary(profile),
    }


def preset_summary(preset: Preset) -> dict[str, Any]:
    """A preset as JSON-able data (what ``peakops profiles list --output json`` prints)."""
    return {
        "name": preset.name,
        "description": preset.description,
        "natural_length_s": preset.natural_length_s,
        "hot_skus": preset.hot_skus,
        "hot_share": preset.hot_share,
    }
