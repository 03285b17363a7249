"""Rates as people write them: ``200/s``, ``900/min``, ``50000/h``."""

from __future__ import annotations

import re

__all__ = ["parse_rate"]

_PER_SECOND = {"s": 1.0, "sec": 1.0, "m": 1 / 60, "min": 1 / 60, "h": 1 / 3600}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*/\s*(s|sec|m|min|h)\s*$")


def parse_rate(text: str) -> float:
    """Events per second in a rate string: ``parse_rate("900/min") == 15.0``.

    Raises ``ValueError`` naming the bad value.
    """
    match = _RATE.match(text)
    if match is None:
        raise ValueError(f"invalid rate {text!r}: use a number per unit, e.g. 200/s or 900/min")
    value = float(match.group(1)) * _PER_SECOND[match.group(2)]
    if value <= 0:
        raise ValueError(f"invalid rate {text!r}: must be more than zero")
    return value
