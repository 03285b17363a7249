"""Steer the arrival rate so that *confirmed* orders per minute meet a target.

Not every arrival becomes a confirmed order (shoppers abandon, the OMS refuses when
out of stock), and the share is not known in advance. With ``load.targetOrdersPerMinute``
the load process multiplies the profile's arrival rate by the multiplier this
controller returns after each measurement window. Pure: no clock, no I/O; the caller
counts confirmations per window.

The law is a damped proportional-integral controller in log space (velocity form)::

    e_k = ln(target / observed_k)                       # relative error of window k
    u_k = u_(k-1) + gain * e_k + (gain / 2) * (e_k - e_(k-1))
    multiplier_k = clamp(exp(u_k), min_multiplier, max_multiplier)

Log space makes the correction proportional (10 % short is the same step at any
rate) and keeps the multiplier positive. Against a plant that confirms a fixed share
of arrivals the error obeys ``e_(k+1) = (1 - 1.5 g) e_k + 0.5 g e_(k-1)``, which
converges for every gain ``0 < g < 1``: at the default 0.5 the roots are 0.64 and
-0.39, so the error shrinks by at least a third each window with no sustained
oscillation. Clamping ``u`` itself (not just the output) is the anti-windup: a
target the system cannot reach parks the multiplier at a bound, and it leaves the
bound as soon as the target becomes reachable. A window with no confirmation counts
as half an order, so the error stays finite.
"""

from __future__ import annotations

import math

__all__ = ["OrdersPerMinuteController"]

_EMPTY_WINDOW_ORDERS = 0.5


class OrdersPerMinuteController:
    """Multiplier on the arrival rate that brings confirmed orders/min to ``target_per_min``."""

    def __init__(
        self,
        target_per_min: float,
        *,
        gain: float = 0.5,
        min_multiplier: float = 0.1,
        max_multiplier: float = 10.0,
    ) -> None:
        if not (target_per_min > 0 and math.isfinite(target_per_min)):
            raise ValueError(f"target must be > 0 orders/min, got {target_per_min}")
        if not 0 < gain < 1:
            raise ValueError(f"gain must be in (0, 1) for the loop to converge, got {gain}")
        if not 0 < min_multiplier <= 1 <= max_multiplier < math.inf:
            raise ValueError(
                "multiplier bounds must satisfy 0 < min <= 1 <= max, "
                f"got [{min_multiplier}, {max_multiplier}]"
            )
        self.target_per_min = target_per_min
        self.gain = gain
        self.min_multiplier = min_multiplier
        self.max_multiplier = max_multiplier
        self._low = math.log(min_multiplier)
        self._high = math.log(max_multiplier)
        self._u = 0.0
        self._last_error: float | None = None

    @property
    def multiplier(self) -> float:
        """The multiplier currently in force (1.0 before the first window)."""
        # clamp again: exp(log(x)) may land a rounding error outside [min, max]
        return min(max(math.exp(self._u), self.min_multiplier), self.max_multiplier)

    def update(self, confirmed_in_window: int, window_s: float) -> float:
        """Feed one window's confirmed orders; return the multiplier for the next window."""
        if confirmed_in_window < 0:
            raise ValueError(f"confirmed orders must be >= 0, got {confirmed_in_window}")
        if not (window_s > 0 and math.isfinite(window_s)):
            raise ValueError(f"window must be > 0 s, got {window_s}")
        observed = max(confirmed_in_window, _EMPTY_WINDOW_ORDERS) * 60.0 / window_s
        error = math.log(self.target_per_min / observed)
        previous = error if self._last_error is None else self._last_error
        step = self.gain * error + self.gain / 2 * (error - previous)
        self._u = min(max(self._u + step, self._low), self._high)
        self._last_error = error
        return self.multiplier
