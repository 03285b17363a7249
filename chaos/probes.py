"""Chaos Toolkit probes (``"module": "chaos.probes"``): is the target in its steady state?

``targets_ready`` asks the platform (local: the public ``/healthz``; kubernetes: every
matching pod Running). ``error_ratio`` and ``order_p99_ms`` read the load process's live
metrics (``peakops_metrics_url``, 127.0.0.1 only) twice, ``window_s`` apart, and judge
the requests in between (:mod:`chaos.live`). They return what they saw, never a 0 that
was not measured::

    {"measure": "error_ratio", "data": "measured", "value": 0.0123, "requests": 812,
     "window_s": 2.0}
    {"measure": "error_ratio", "data": "missing", "value": null, "requests": 0,
     "window_s": 2.0, "no_data": "no requests in the last 2 s"}

and the experiments judge them with the tolerance probe :func:`measured_within`:

- ``measured``: within its bounds or not, as usual;
- ``missing`` (a metrics URL is set but the window had no requests, or the metrics were
  unreadable): rejected, so the hypothesis does not hold (fails closed);
- ``unconfigured`` (no metrics URL: an experiment run on its own, or a flood without
  live metrics): accepted, since nothing was asked to be measured; the output says
  ``"data": "unconfigured"`` and the runner prints it, so it never reads as a pass of
  the flood.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from chaos import kube, live, local
from chaos.settings import parse_settings
from slo.conventions import ENDPOINT_PLACE_ORDER

__all__ = ["error_ratio", "measured_within", "order_p99_ms", "targets_ready"]

Configuration = Mapping[str, Any] | None
Sleep = Callable[[float], None]


def targets_ready(configuration: Configuration = None) -> bool:
    """True when the target answers: local public ``/healthz``, or all matching pods Running."""
    settings = parse_settings(configuration)
    if settings.platform == "kubernetes":
        ready, total = kube.pods_ready(settings, kube.default_clients)
        return total > 0 and ready == total
    base_url = local.base_url(settings)
    try:
        response = httpx.get(f"{base_url}/healthz", timeout=2.0, trust_env=False)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def error_ratio(
    window_s: float = 3.0, configuration: Configuration = None, *, sleep: Sleep = time.sleep
) -> dict[str, Any]:
    """Failed share of the flood's requests during the last ``window_s`` (see the module)."""
    window = live.read_window(parse_settings(configuration), float(window_s), sleep=sleep)
    return _output("error_ratio", live.error_ratio_in(window), window.seconds, digits=4)


def order_p99_ms(
    window_s: float = 3.0,
    endpoint: str = ENDPOINT_PLACE_ORDER,
    configuration: Configuration = None,
    *,
    sleep: Sleep = time.sleep,
) -> dict[str, Any]:
    """p99 latency (ms, bucket upper bound) of ``endpoint`` during the last ``window_s``."""
    window = live.read_window(parse_settings(configuration), float(window_s), sleep=sleep)
    return _output("p99_ms", live.p99_ms_in(window, endpoint), window.seconds, digits=1)


def measured_within(value: Any = None, lower: float = 0.0, upper: float = 0.0) -> bool:
    """Tolerance of a metric probe: measured and in ``[lower, upper]``, or unconfigured.

    A ``missing`` figure (or anything else than a metric probe's output) is rejected.
    """
    if not isinstance(value, Mapping):
        return False
    if value.get("data") == "unconfigured":
        return True
    figure = value.get("value")
    if value.get("data") != "measured" or not isinstance(figure, int | float):
        return False
    return float(lower) <= figure <= float(upper)


def _output(measure: str, reading: live.Reading, window_s: float, digits: int) -> dict[str, Any]:
    value = None if reading.value is None else round(reading.value, digits)
    out: dict[str, Any] = {
        "measure": measure, "data": reading.data, "value": value,
        "requests": reading.requests, "window_s": window_s,
    }  # fmt: skip
    if reading.no_data:
        out["no_data"] = reading.no_data
    return out
