"""Keep a fault's lease alive between the action that starts it and the one that heals it.

A Chaos Toolkit action returns at once, but a leased fault lapses unless someone
renews it. The start action registers a :class:`Renewer` (a daemon thread renewing
every ``lease_s / 3``) in :data:`LEASES`; the heal action (or the rollback) stops it.
Nothing else keeps the fault alive, so:

- the chaos process SIGKILLed: the thread dies with it, the fault lapses within
  ``lease_s`` (a local toxic is dropped by its proxy; a NetworkPolicy is deleted by
  the next ``peakops chaos reap``, which every rehearsal runs at its start);
- nobody heals it: the renewer gives up after ``max_s`` and the fault lapses;
- the fault is found gone (healed elsewhere, reaped, proxy restarted): renewing stops,
  it is never put back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slo.errors import PeakopsError

__all__ = ["LEASES", "Leases", "Renewer"]

_log = logging.getLogger(__name__)


class Renewer:
    """Calls ``renew()`` every ``lease_s / 3`` until stopped, gone, or ``max_s`` passed.

    ``renew`` returns False once the fault is gone. ``on_close`` runs when the thread
    ends (e.g. to close API clients).
    """

    def __init__(
        self,
        name: str,
        renew: Callable[[], bool],
        *,
        lease_s: float,
        max_s: float,
        on_close: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.renewals = 0
        self.failures = 0
        self.gone = False
        self._renew = renew
        self._interval = lease_s / 3
        self._deadline = clock() + max_s
        self._clock = clock
        self._on_close = on_close
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"peakops-lease-{name}", daemon=True)

    def start(self) -> Renewer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop renewing and wait for the thread (at most a few seconds)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._interval * 3 + 5)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._interval):
                if self._clock() >= self._deadline:
                    _log.warning("fault %r: renewing for too long, letting it lapse", self.name)
                    return
                try:
                    alive = self._renew()
                except PeakopsError as err:
                    self.failures += 1
                    _log.warning("could not renew fault %r (will retry): %s", self.name, err)
                    continue
                if not alive:
                    self.gone = True
                    return
                self.renewals += 1
        finally:
            if self._on_close is not None:
                self._on_close()


class Leases:
    """The renewers of one process, by fault key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._renewers: dict[str, Renewer] = {}

    def start(self, key: str, renewer: Renewer) -> None:
        """Register and start ``renewer``; a renewer already under ``key`` is stopped."""
        with self._lock:
            previous = self._renewers.pop(key, None)
            self._renewers[key] = renewer
        if previous is not None:
            previous.stop()
        renewer.start()

    def stop(self, key: str) -> bool:
        """Stop the renewer of ``key``; False if there was none."""
        with self._lock:
            renewer = self._renewers.pop(key, None)
        if renewer is None:
            return False
        renewer.stop()
        return True

    def stop_all(self) -> list[str]:
        """Stop every renewer (their faults then lapse); return their keys."""
        with self._lock:
            renewers, self._renewers = self._renewers, {}
        for renewer in renewers.values():
            renewer.stop()
        return sorted(renewers)

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._renewers)


LEASES = Leases()
"""The process's renewers. Process-wide on purpose: Chaos Toolkit runs a fault's start
action and its heal (or rollback) as two separate calls in the same process."""
