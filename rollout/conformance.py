"""``peakops target check``: the plan's adapter against its live OMS, as a report.

Builds what the check needs from the plan, at the edge: the URLs (only to hosts the
plan and the operator allow: ``slo.hosts.check_url``), the adapter
(``collectors.adapters.build_adapter``: ``--adapter``, else ``target.adapter``, a module
next to the plan is found, with ``target.adapterOptions``), the test SKUs
(``target.skus``, else ``adapter.list_skus()``), an HTTP client that sends what the
adapter builds; then runs ``collectors.conformance.Conformance`` and always cancels
what it placed. Every request is tagged ``X-Peakops-Run-Id: target-check``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from collectors.adapter import HttpCall
from collectors.adapters import build_adapter, read_sku_file, run_headers
from collectors.conformance import CheckLine, Conformance
from slo.conventions import CHANNELS
from slo.errors import InfraError, PeakopsError, UsageError
from slo.hosts import check_url
from slo.plan import Plan
from slo.target import SkuFile, resolve_adapter_options

__all__ = ["CHECK_HEADERS", "CHECK_RUN_ID", "ConformanceReport", "HttpSender", "check_target"]

CHECK_RUN_ID = "target-check"
CHECK_HEADERS = run_headers(CHECK_RUN_ID)
"""What tags every request of the check as synthetic (the run-id header and baggage)."""


@dataclass(frozen=True)
class ConformanceReport:
    adapter: str
    base_url: str
    truth_url: str | None
    sku: str | None
    lines: tuple[CheckLine, ...]

    @property
    def usable(self) -> bool:
        """No line failed (or was skipped because one did): a rehearsal can trust it."""
        return all(line.status in ("pass", "unsupported") for line in self.lines)

    @property
    def exit_code(self) -> int:
        return 0 if self.usable else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "adapter": self.adapter, "baseUrl": self.base_url, "truthUrl": self.truth_url,
            "sku": self.sku, "usable": self.usable, "exitCode": self.exit_code,
            "checks": [asdict(line) for line in self.lines],
        }  # fmt: skip


class HttpSender:
    """Sends what an adapter builds, as the load generator does: to the base URL, or to
    the call's absolute URL once ``allow`` passed it; tagged synthetic."""

    def __init__(self, client: httpx.Client, base_url: str, allow: Callable[[str], Any]) -> None:
        self.client, self.base_url, self.allow = client, base_url.rstrip("/"), allow

    def __call__(self, call: HttpCall) -> tuple[int, dict[str, Any] | None]:
        """(status, JSON object body or None); status 0 when no answer came."""
        url = call.path
        if not url.startswith(("http://", "https://")):
            url = f"{self.base_url}/{url.lstrip('/')}"
        elif not url.startswith(self.base_url + "/"):
            self.allow(url)
        headers = {**CHECK_HEADERS, **dict(getattr(call, "headers", None) or {})}
        try:
            resp = self.client.request(call.method, url, json=call.json, headers=headers)
        except httpx.TransportError:
            return 0, None
        try:
            body = resp.json()
        except ValueError:
            body = None
        return resp.status_code, body if isinstance(body, dict) else None


def check_target(
    plan: Plan, plan_path: Path, *, adapter_spec: str | None = None,
    operator_hosts: frozenset[str] = frozenset(), client: httpx.Client | None = None,
) -> ConformanceReport:  # fmt: skip
    """Build the plan's adapter (``adapter_spec`` first) and run the checks against its
    target. ``UsageError``: not a url target, a host not allowed, an adapter that cannot
    be built; ``InfraError``: the OMS does not answer at all."""
    target = plan.target
    if target.kind != "url" or target.base_url is None:
        raise UsageError(f"{plan_path}: target check needs target.kind: url with a baseUrl")

    def allow(url: str, field: str = "adapter request") -> str:
        return check_url(url, field=field, plan_hosts=target.allow_hosts,
                         operator_hosts=operator_hosts)  # fmt: skip

    base_url = allow(target.base_url, "target.baseUrl")
    truth_url = allow(target.truth_url, "target.truthUrl") if target.truth_url else None
    spec = adapter_spec or target.adapter
    try:
        options = resolve_adapter_options(target.adapter_options, os.environ)
        adapter = build_adapter(spec, base_url, truth_url, options=options,
                                search_path=[plan_path.parent], headers=CHECK_HEADERS)  # fmt: skip
    except PeakopsError:
        raise
    except Exception as err:  # the user's code: whatever it raises is a bad target.adapter
        raise UsageError(f"target.adapter {spec}: {err}") from err
    http = client or httpx.Client(timeout=5.0, trust_env=False)
    check = Conformance(
        adapter, HttpSender(http, base_url, allow), channels=_channels(plan),
        customer=target.test_customer, max_units=target.max_units,
        view_staleness_s=target.probes.view_staleness_s,
    )  # fmt: skip
    try:
        for url in dict.fromkeys(u for u in (base_url, truth_url) if u):
            _reach(http, url)
        try:
            skus = target.skus
            check.run(read_sku_file(skus, plan_path.parent) if isinstance(skus, SkuFile) else skus)
        finally:
            check.cleanup()
    finally:
        if client is None:
            http.close()
        close = getattr(adapter, "close", None)
        if callable(close):
            close()
    return ConformanceReport(spec, base_url, truth_url, check.sku, tuple(check.lines))


def _reach(http: httpx.Client, url: str) -> None:
    try:
        http.get(url)
    except httpx.TransportError as err:
        raise InfraError(f"the oms at {url} is not reachable: {type(err).__name__}: {err}") from err


def _channels(plan: Plan) -> list[str]:
    weights = plan.load.channels
    return [c for c in CHANNELS if weights.get(c, 0) > 0] or [c for c in weights if c] or ["web"]
