"""Does an adapter fit a live OMS? A short scripted conversation, judged line by line.

With one test SKU, ``Conformance`` reads the truth and every channel view, places one
unit and times how long the truth and each view take to show it, looks the order up by
its idempotency key, retries the key, cancels, orders more than is available, and
looks at the counts the truth exposes. Each line is ``pass``, ``fail``, ``unsupported``
(the adapter or the OMS cannot say: the drift checker then judges less, never wrongly)
or ``skipped`` (it needs what an earlier line failed to get), with what the drift
checker can and cannot judge as a result (``JUDGED``, in ``collectors.conformance_lines``).

It places real orders through ``send`` (``rollout.conformance`` sends them tagged
synthetic) with idempotency keys ``peakops-check-...`` for the customer
``peakops-synthetic``, and ``cleanup()`` cancels every one it placed. Run it while
nothing else orders the test SKU. ``peakops target check`` is its command.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from collectors.adapter import UNANSWERED, HttpCall, OmsAdapter, Outcome, StockRow
from collectors.conformance_lines import (
    JUDGED,
    CheckLine,
    Levels,
    failed,
    levels_of,
    phase,
    read_as,
    show,
    shows,
)

__all__ = ["JUDGED", "SYNTHETIC_CUSTOMER", "CheckLine", "Conformance", "Levels", "Send"]

SYNTHETIC_CUSTOMER = "peakops-synthetic"

Send = Callable[[HttpCall], "tuple[int, dict[str, Any] | None]"]


class Conformance:
    """The scripted sequence against one adapter: ``run()``, then always ``cleanup()``."""

    def __init__(
        self, adapter: OmsAdapter, send: Send, *, channels: Sequence[str],
        customer: str = SYNTHETIC_CUSTOMER, max_units: int | None = None,
        view_staleness_s: float = 2.0, wait_s: float = 10.0, poll_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
    ) -> None:  # fmt: skip
        self.adapter, self.send, self.channels = adapter, send, list(channels)
        self.order_channel = next((c for c in self.channels if c != "store"), self.channels[0])
        self.customer, self.max_units = customer, max_units
        self.view_staleness_s, self.wait_s, self.poll_s = view_staleness_s, wait_s, poll_s
        self.clock, self.sleep = clock, sleep
        self.prefix = f"peakops-check-{uuid.uuid4().hex[:12]}"
        self.lines: list[CheckLine] = []
        self.open_orders: dict[str, str | None] = {}  # placed and not cancelled yet
        self.sku: str | None = None
        self.candidates: list[str] = []
        self.last_route = ""
        self.key = f"{self.prefix}-place"
        self.order_id: str = ""
        self.location: str | None = None
        self.truth_before: Levels = {}

    def line(self, check: str, status: str, detail: str, seconds: float | None = None,
             channel: str = "", judged: str | None = None) -> None:  # fmt: skip
        text = "not known: an earlier check failed" if status == "skipped" else (
            JUDGED[check, judged or status]
        )  # fmt: skip
        name, text = check.format(channel=channel), text.format(channel=channel)
        self.lines.append(CheckLine(name, status, detail, text, seconds))

    def run(self, skus: Sequence[str] | None = None) -> list[CheckLine]:
        """Every check in order; the lines that need a test SKU or an order are skipped
        without one."""
        rows = self._truth(skus)
        if rows is None and self.candidates:  # no truth, but a sku to show what orders get
            self.sku = self.candidates[0]
        later = ["place one unit", "lookup by key", "retry same key", "cancel", "sold out"]
        why = "no test sku"
        if self.sku is not None:
            placed = self._place(rows, self._views())
            later, why = later[1:], "no order placed" if not placed else "no truth"
            if placed and rows is not None:
                for step in (self._lookup, self._retry, self._cancel, self._sold_out):
                    step()
                later = []
        for check in later:
            self.line(check, "skipped", why)
        self._counts(rows or [])
        return self.lines

    # -- truth and views ------------------------------------------------------------

    def _truth(self, skus: Sequence[str] | None) -> list[StockRow] | None:
        self.candidates = list(skus or ())
        try:
            candidates = self.candidates = self.candidates or self.adapter.list_skus()
            for sku in candidates[:50]:
                rows = self.adapter.read_truth(sku)
                if sum(row.available for row in rows) > 0:
                    self.sku = sku
                    self.line("truth readable", "pass", f"{sku}: {show(levels_of(rows))}")
                    return rows
        except Exception as err:
            self.line("truth readable", *failed(err))
            return None
        detail = (f"none of the first {min(len(candidates), 50)} skus has stock" if candidates
                  else "list_skus() and the plan give no sku (is truthUrl set?)")  # fmt: skip
        self.line("truth readable", "fail", detail)
        return None

    def _views(self) -> dict[str, Levels]:
        assert self.sku is not None
        views: dict[str, Levels] = {}
        for channel in self.channels:
            check = "view {channel} readable"
            try:
                levels = levels_of(self.adapter.read_view(self.sku, channel))
                status, _ = self.send(self.adapter.stock_check_call(self.sku, channel))
            except Exception as err:
                self.line(check, *failed(err), channel=channel)
                continue
            if not levels:
                self.line(check, "fail", "no location shown", channel=channel)
            elif status != 200:
                detail = f"the journeys' stock check got http {status}: each browse an error"
                self.line(check, "fail", detail, channel=channel)
            else:
                views[channel] = levels
                self.line(check, "pass", f"{show(levels)}; stock check http 200", None, channel)
        return views

    # -- one order, seen in the truth and the views -------------------------------------

    def _place(self, rows: list[StockRow] | None, views: dict[str, Levels]) -> bool:
        started = self.clock()
        try:
            outcome, status = self._send_place(self.key, 1)
        except Exception as err:
            self.line("place one unit", *failed(err))
            return False
        acked = self.clock()
        took = acked - started
        if outcome.phase != "ok" or not outcome.order_id:
            self.line("place one unit", "fail", f"{self.last_route}: {read_as(status, outcome)}")
            return False
        self.order_id, self.location = outcome.order_id, outcome.location
        self.open_orders[outcome.order_id] = outcome.location
        where = f"order {outcome.order_id} at {outcome.location or '(not said)'}"
        self.line("place one unit", "pass", f"{read_as(status, outcome)}, {where}", took)
        if rows is None:  # nothing to compare with: cleanup() cancels it
            return True
        self.truth_before = levels_of(rows)
        before = sum(self.truth_before.values())
        shown, now = self._wait(lambda levels: sum(levels.values()) == before - 1)
        if shown is None:
            detail = f"available {sum(now.values())}, not {before - 1}, after {self.wait_s:g} s"
            self.line("truth shows the order", "fail", detail)
        else:
            moved = [loc for loc, n in now.items() if n == self.truth_before.get(loc, 0) - 1]
            self.location = self.location or (moved[0] if moved else None)
            loc = self.location or "?"
            detail = f"{loc}: {self.truth_before.get(loc)} → {now.get(loc)} in {shown:.2f} s"
            self.line("truth shows the order", "pass", detail, shown)
        self._views_show(views, acked)
        return True

    def _send_place(self, key: str, qty: int, sku: str | None = None) -> tuple[Outcome, int]:
        assert self.sku is not None
        call = self.adapter.place_call(key, self.order_channel, sku or self.sku, qty, None,
                                       self.customer)  # fmt: skip
        self.last_route = f"{call.method} {urlsplit(call.path).path}"
        status, body = self.send(call)
        return self.adapter.place_outcome(status, body), status

    def _views_show(self, views: dict[str, Levels], started: float) -> None:
        """Poll every view until it shows the order; each lag timed from the ack."""
        pending = dict(views)
        seen: dict[str, float] = {}
        while pending and self.clock() - started <= self.wait_s:
            for channel, before in list(pending.items()):
                if shows(self.location, before, self._read_view(channel)):
                    seen[channel] = self.clock() - started
                    del pending[channel]
            if pending:
                self.sleep(self.poll_s)
        for channel, before in views.items():
            took, check = seen.get(channel), "view {channel} shows the order"
            if took is None:
                self.line(check, "fail", f"not after {self.wait_s:g} s", None, channel)
            elif self.location not in before:
                self.line(check, "pass", f"{self.location} is not in this view", None, channel)
            else:
                slow = "slow" if took > self.view_staleness_s else None
                self.line(check, "pass", f"in {took:.2f} s", took, channel, slow)

    # -- idempotency, cancel, sold out, counts ----------------------------------------

    def _lookup(self) -> None:
        try:
            known = self.adapter.order_by_key(self.key)
            never = self.adapter.order_by_key(f"{self.prefix}-never-sent")
        except Exception as err:
            self.line("lookup by key", *failed(err))
            return
        if known.phase == "info":
            self.line("lookup by key", "unsupported", f"order_by_key: {phase(known)}")
        elif known.phase != "ok" or known.order_id not in (None, self.order_id):
            detail = f"the placed order reads as {known.phase} {known.order_id or ''}"
            self.line("lookup by key", "fail", f"{detail} ({known.reason})")
        elif never.phase == "ok":
            self.line("lookup by key", "fail", "a key never sent reads as an applied order")
        else:
            note = "" if never.phase == "fail" else f"; a key never sent reads as {never.phase}"
            self.line("lookup by key", "pass", f"ok, order {self.order_id}{note}")

    def _retry(self) -> None:
        before = sum(self.truth_before.values())
        try:
            outcome, status = self._send_place(self.key, 1)
            self.sleep(min(0.5, self.wait_s))
            now = sum(self._read_truth().values())
        except Exception as err:
            self.line("retry same key", *failed(err))
            return
        if outcome.phase == "ok" and outcome.order_id not in (None, self.order_id):
            self.open_orders[str(outcome.order_id)] = outcome.location
        detail = f"{read_as(status, outcome)}, order {outcome.order_id or '(none)'}"
        if now != before - 1 or outcome.order_id not in (None, self.order_id):
            self.line("retry same key", "fail", f"{detail}; truth {before} → {now}")
        else:
            self.line("retry same key", "pass", f"{detail}; truth changed once")

    def _cancel(self) -> None:
        """Cancel as the flood does (``cancel_call``), then again as the cleanup does."""
        before, started = sum(self.truth_before.values()), self.clock()
        try:
            call = self.adapter.cancel_call(self.order_id, self.order_channel, self.location)
            status, body = self.send(call)
            outcome = self.adapter.cancel_outcome(status, body)
        except Exception as err:
            self.line("cancel", *failed(err))
            return
        how = f"cancel_call {read_as(status, outcome)}"
        if outcome.phase != "ok":
            self.line("cancel", "fail", how)
            return
        self.open_orders.pop(self.order_id, None)
        took, now = self._wait(lambda levels: sum(levels.values()) == before)
        if took is None:
            self.line("cancel", "fail", f"{how}; available {sum(now.values())}, not {before}")
        else:
            took = self.clock() - started
            self.line("cancel", "pass", f"{how}; stock restored in {took:.2f} s", took)
        self._cancel_again()
        try:
            found = self.adapter.order_cancelled(self.order_id)
        except Exception as err:
            self.line("cancel lookup", *failed(err))
            return
        result = {"ok": "pass", "info": "unsupported"}.get(found.phase, "fail")
        self.line("cancel lookup", result, f"order_cancelled: {phase(found)}")

    def _cancel_again(self) -> None:
        """The end-of-run cleanup's ``cancel_order`` on an order cancelled already: ok."""
        before = sum(self.truth_before.values())
        try:
            outcome = self.adapter.cancel_order(self.order_id, self.location)
            now = sum(self._read_truth().values())
        except Exception as err:
            self.line("cleanup cancel", *failed(err))
            return
        detail = f"cancel_order again: {phase(outcome)}; available {now}"
        good = outcome.phase == "ok" and now == before
        self.line("cleanup cancel", "pass" if good else "fail", detail)

    def _sold_out(self) -> None:
        try:
            sku, available = self._sold_out_sku()
            if sku is None:
                detail = f"{available + 1} units would exceed maxUnits, and no sku is sold out"
                self.line("sold out", "unsupported", detail)
                return
            qty = available + 1
            outcome, status = self._send_place(f"{self.prefix}-sold-out", qty, sku)
        except Exception as err:
            self.line("sold out", *failed(err))
            return
        detail = f"{qty} of {sku} ({available} available): {read_as(status, outcome)}"
        if outcome.phase == "ok":
            self.open_orders[str(outcome.order_id)] = outcome.location
            self.line("sold out", "fail", detail + ": it sold what it does not have")
        elif outcome.phase == "info":
            self.line("sold out", "fail", detail + ": a definite refusal read as unknown")
        else:
            good = outcome.reason == "out_of_stock"
            self.line("sold out", "pass" if good else "unsupported", detail)

    def _sold_out_sku(self) -> tuple[str | None, int]:
        """(sku, available) to order ``available + 1`` of: the test SKU, or, when the plan's
        ``maxUnits`` forbids that many, a SKU that is sold out already (None: none is)."""
        available = sum(self._read_truth().values())
        if self.max_units is None or available + 1 <= self.max_units:
            return self.sku, available
        for sku in self.candidates[:50]:
            rows = self.adapter.read_truth(sku)
            if rows and sum(row.available for row in rows) == 0:
                return sku, 0
        return None, available

    def _counts(self, rows: list[StockRow]) -> None:
        if not rows:
            self.line("counts exposed", "skipped", "no test sku")
            return
        names = ("on_hand", "reserved", "committed")
        missing = [n for n in names if any(getattr(row, n) is None for row in rows)]
        if missing:
            self.line("counts exposed", "unsupported", f"{', '.join(missing)}: not exposed")
            return
        broken = [r.location for r in rows
                  if r.on_hand != r.available + (r.reserved or 0) + (r.committed or 0)]  # fmt: skip
        detail = f"on hand != available + reserved + committed at {', '.join(broken)}"
        self.line(
            "counts exposed",
            "fail" if broken else "pass",
            detail if broken else "on_hand, reserved, committed; conservation holds",
        )

    # -- helpers ----------------------------------------------------------------------

    def cleanup(self) -> None:
        """Cancel every order this check placed and did not cancel; a line if one stays."""
        for order_id, location in list(self.open_orders.items()):
            try:
                outcome = self.adapter.cancel_order(order_id, location)
            except Exception as err:
                outcome = Outcome("info", reason=f"{type(err).__name__}: {err}")
            if outcome.phase == "ok":
                del self.open_orders[order_id]
            else:
                detail = f"order {order_id}: cancel_order: {phase(outcome)}"
                self.line("cleanup", "fail", detail)

    def _read_truth(self) -> Levels:
        assert self.sku is not None
        return levels_of(self.adapter.read_truth(self.sku))

    def _read_view(self, channel: str) -> Levels:
        assert self.sku is not None
        try:
            return levels_of(self.adapter.read_view(self.sku, channel))
        except UNANSWERED:
            return {}

    def _wait(self, done: Callable[[Levels], bool]) -> tuple[float | None, Levels]:
        """Read the truth until ``done``: (seconds it took, or None after ``wait_s``; last)."""
        started = self.clock()
        while True:
            levels = self._read_truth()
            if done(levels):
                return self.clock() - started, levels
            if self.clock() - started > self.wait_s:
                return None, levels
            self.sleep(self.poll_s)
