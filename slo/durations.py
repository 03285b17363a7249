"""Duration strings of plan files (``250ms``, ``60s``, ``1h30m``) to numbers and back.

A duration is one or more ``<number><unit>`` parts, units ``ms``, ``s``, ``m``, ``h``,
largest first, e.g. ``1h30m`` or ``1.5s``. ``format_duration`` writes a string that
parses back to exactly the same number.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

__all__ = ["format_duration", "format_duration_ms", "parse_duration", "parse_duration_ms"]

_MS_PER_UNIT = {"h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}
_UNIT_ORDER = ("h", "m", "s", "ms")
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ms|h|m|s)")
_HINT = "use a number and a unit, e.g. 250ms, 30s, 5m"


def _parts(text: str) -> list[tuple[str, str]]:
    """Split ``text`` into (number, unit) parts, or raise ``ValueError``."""
    stripped = text.strip()
    parts: list[tuple[str, str]] = []
    position = 0
    for match in _PART.finditer(stripped):
        if match.start() != position:
            break
        parts.append((match.group(1), match.group(2)))
        position = match.end()
    ranks = [_UNIT_ORDER.index(unit) for _, unit in parts]
    in_order = ranks == sorted(set(ranks))  # largest unit first, each unit once
    if not parts or position != len(stripped) or not in_order:
        raise ValueError(f"invalid duration {text!r}: {_HINT}")
    return parts


def _parse(text: str, *, in_ms: bool) -> float:
    # Single-unit values are converted with one multiplication or division so that a
    # value written in the target unit (``1.5s`` as seconds, ``250.5ms`` as ms) is exact.
    total = 0.0
    for number, unit in _parts(text):
        factor = _MS_PER_UNIT[unit]
        total += float(number) * factor if in_ms else _to_seconds(float(number), factor)
    return total


def _to_seconds(value: float, ms_factor: int) -> float:
    return value * (ms_factor // 1000) if ms_factor >= 1000 else value / 1000


def parse_duration(text: str) -> float:
    """Seconds in a duration string: ``parse_duration("1h30m") == 5400.0``.

    Raises ``ValueError`` with a lowercase message naming the bad value.
    """
    return _parse(text, in_ms=False)


def parse_duration_ms(text: str) -> float:
    """Milliseconds in a duration string: ``parse_duration_ms("1.5s") == 1500.0``."""
    return _parse(text, in_ms=True)


def _compound(whole_seconds: int) -> str:
    hours, rest = divmod(whole_seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{seconds}s" if seconds or not text else "")


def _candidates(seconds: float) -> list[str]:
    """Readable spellings of ``seconds``, most readable first (may be inexact)."""
    found: list[str] = []
    if seconds >= 1 and seconds.is_integer():
        found.append(_compound(int(seconds)))
    millis = seconds * 1000
    if seconds < 1 and round(millis, 6).is_integer():
        found.append(f"{round(millis)}ms")
    if seconds < 1:
        found.append(f"{_plain(millis)}ms")
    return found


def _plain(value: float) -> str:
    """The shortest exact decimal of ``value`` without an exponent (``1e-05`` -> ``0.00001``)."""
    return format(Decimal(repr(value)), "f")


def format_duration(seconds: float) -> str:
    """A duration string for ``seconds`` that ``parse_duration`` reads back exactly.

    ``format_duration(5400) == "1h30m"``, ``format_duration(0.25) == "250ms"``,
    ``format_duration(1.5) == "1.5s"``. Raises ``ValueError`` for negative, infinite
    or NaN values, which no duration string can express.
    """
    value = float(seconds)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"cannot write {seconds!r} as a duration: it must be a finite number >= 0")
    if value == 0:
        return "0s"
    for candidate in _candidates(value):
        if parse_duration(candidate) == value:
            return candidate
    return f"{_plain(value)}s"


def format_duration_ms(millis: float) -> str:
    """A duration string for ``millis`` that ``parse_duration_ms`` reads back exactly."""
    value = float(millis)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"cannot write {millis!r} ms as a duration: it must be finite and >= 0")
    candidate = format_duration(value / 1000)
    return candidate if parse_duration_ms(candidate) == value else f"{_plain(value)}ms"
