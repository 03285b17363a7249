"""A rehearsal's own monitor, with a look at its Prometheus before it stops.

Monitoring is exited last in a rehearsal (after the gate), so a test that wraps the
default monitor in ``Inspected`` can query the real Prometheus that scraped the run,
over the run's window, while it still holds every sample.
"""

from __future__ import annotations

from collections.abc import Callable

from collectors.rundir import RunDir
from platforms.base import Endpoints
from rehearsal.monitoring import Monitor

Inspect = Callable[[str, RunDir], None]
"""Called with the Prometheus URL and the run directory, before Prometheus stops."""


class Inspected:
    """The rehearsal's own monitor; ``inspect`` runs while its Prometheus is still up."""

    def __init__(self, inner: Monitor, run: RunDir, inspect: Inspect):
        self._inner, self._run, self._inspect = inner, run, inspect

    def __enter__(self) -> Inspected:
        self._inner.__enter__()
        return self

    def ready(self, endpoints: Endpoints) -> None:
        self._inner.ready(endpoints)

    @property
    def prometheus_url(self) -> str | None:
        return self._inner.prometheus_url

    def __exit__(self, *exc: object) -> None:
        try:
            url = self._inner.prometheus_url
            if url is not None:
                self._inspect(url, self._run)
        finally:
            self._inner.__exit__(*exc)
