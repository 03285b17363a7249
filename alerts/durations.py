"""Prometheus durations (``5m``, ``1d``, ``30d``) as whole seconds, and back.

Window sets are written in Prometheus' own units (the plan's durations stop at hours);
a duration is one or more ``<integer><unit>`` parts, units ``d``, ``h``, ``m``, ``s``,
largest first. ``format_window`` writes the single largest unit that divides it
exactly (``8640`` -> ``144m``), the form used in rule names (``ratio_rate144m``).
"""

from __future__ import annotations

import re

__all__ = ["format_window", "parse_window"]

_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_window(text: str) -> int:
    """Seconds in a Prometheus duration: ``parse_window("1h30m") == 5400``.

    Raises ``ValueError`` naming the bad value (zero is not a window).
    """
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or not any(match.groups()):
        raise ValueError(f"invalid duration {text!r}: use whole d, h, m, s units, e.g. 5m, 1d")
    seconds = sum(int(n) * s for n, s in zip(match.groups(), _SECONDS.values(), strict=True) if n)
    if seconds <= 0:
        raise ValueError(f"invalid duration {text!r}: must be longer than 0s")
    return seconds


def format_window(seconds: int) -> str:
    """``format_window(300) == "5m"``; the largest unit that divides ``seconds`` exactly."""
    if seconds <= 0:
        raise ValueError(f"a window must be longer than 0s, got {seconds}s")
    for unit, size in _SECONDS.items():
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AssertionError("unreachable: every whole number of seconds divides by 1")
