"""The local platform: the embedded reference OMS as supervised processes on 127.0.0.1.

One inventory process, N orders replicas sharing a public port (SO_REUSEPORT), each
with its own admin port, and ``OmsConfig.stores`` store nodes (``store-N``, each on its
own port); logs (``inventory.log``, ``orders-N.log``, ``store-N.log``) and SQLite files
in the work directory. With ``OmsConfig.fault_proxy`` the replicas and each store reach
inventory through supervised fault proxies (``faultproxy-orders-inventory``,
``faultproxy-store-1-inventory``), see :meth:`fault_proxies`.
A supervisor thread restarts whatever exits, like a ReplicaSet;
``deploy`` and ``rollback`` do a rolling replace, one replica at a time (the others keep
serving the public port): SIGTERM the old process, which stops listening, drains its
accept queue and finishes its requests in flight (``reference_oms.serving``); start the
new one on the same ports; wait until it is healthy *and* listens on the public port (it
listens only once ready); then the next. ``tests/platforms/test_local_rollout.py``
measures it under load. ``reference_oms`` is never imported:
it is started by module name, as a real OMS would be started from its image.
It is the ``local`` :class:`~platforms.base.Platform` (helpers in :mod:`platforms.local_ops`).

Events passed to ``on_event`` (``replica`` is ``inventory`` or ``orders-N``)::

    platform_started   version, replicas, base_url, inventory_url, store_urls, fault_proxies
    replica_killed     replica, pid, signal        (kill_replica, before the signal)
    replica_exited     replica, code, restart_in_s
    replica_restarted  replica, restarts, pid, version
    replica_restart_failed  replica, error         (could not even spawn; retried)
    deploy_started / deploy_finished / deploy_failed (+ error)
                       from_version, to_version, rollback
    replica_draining   replica, pid, version       (a rollout stops that process now)
    platform_stopped   version
"""

from __future__ import annotations

import atexit
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from platforms import local_ops
from platforms.base import Endpoints, FaultTargets, Health
from platforms.local_layout import PROXY_PREFIX, Layout
from platforms.local_ops import ReplicaInfo
from platforms.oms import HOST, OmsConfig
from platforms.processes import ChildProcess, Spawner, stop_all
from platforms.supervisor import Backoff, Event, Supervised, Supervisor
from slo.errors import InfraError, RevertError, UsageError

__all__ = ["LocalPlatform", "OmsConfig", "ReplicaInfo"]

_Unit = Supervised[ChildProcess]


class LocalPlatform:
    """Runs, supervises, kills, deploys and rolls back the reference OMS on this machine.

    ``on_event`` is called from the caller's thread or the supervisor's, one call at a
    time; ``replica_killed`` is emitted holding the platform lock so it always precedes
    the exit it causes. ``clock`` drives start/deploy deadlines and restart backoff.
    """

    kind: str = "local"

    def __init__(
        self,
        config: OmsConfig,
        work_dir: Path,
        *,
        on_event: Callable[[Event], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        poll_interval_s: float = 0.2,
        backoff: Backoff | None = None,
    ) -> None:
        if config.replicas < 1:
            raise UsageError(f"replicas must be at least 1, got {config.replicas}")
        self._config = config
        self._work_dir = Path(work_dir)
        self._on_event = on_event
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._lock = threading.RLock()
        self._emit_lock = threading.Lock()
        self._deploy_lock = threading.Lock()
        self._state = "new"
        self._revisions = [config.version]
        self._rolled_back_to: str | None = None
        self._layout = Layout(config, Path(work_dir))
        self._units: list[_Unit] = []  # inventory, then the orders replicas
        self._proxies: list[_Unit] = []
        self._stores: list[_Unit] = []
        self._spawner = Spawner()
        self._supervisor: Supervisor[ChildProcess] = Supervisor(
            lambda: [*self._units, *self._proxies, *self._stores],
            lock=self._lock,
            clock=clock,
            spawn=self._respawn,
            emit=self._emit,
            backoff=self._backoff,
            poll_s=poll_interval_s,
        )

    # -- lifecycle -------------------------------------------------------------

    def start(self, timeout_s: float = 30) -> None:
        """Start inventory, proxies, replicas and stores; wait until healthy; supervise.

        Raises InfraError with the failing process's last log lines, after stopping
        everything already started.
        """
        with self._lock:
            if self._state != "new":
                raise InfraError(f"local platform cannot start: it is {self._state}")
            self._state = "running"
        deadline = self._clock() + timeout_s
        self._work_dir.mkdir(parents=True, exist_ok=True)
        self._spawner.start()
        atexit.register(self.stop)
        try:
            layout = self._layout
            layout.allocate()
            inventory = self._add_unit(layout.inventory(), "")
            local_ops.await_healthy(inventory.child, deadline, timeout_s, self._clock)
            for proxy in [
                self._add_unit(layout.proxy(ln), "", self._proxies) for ln in layout.links
            ]:
                local_ops.await_healthy(proxy.child, deadline, timeout_s, self._clock)
            replicas = [
                self._add_unit(layout.orders(i, self.revision), self.revision)
                for i in range(1, self._config.replicas + 1)
            ]
            stores = [
                self._add_unit(layout.store(location), "", self._stores)
                for location in layout.store_locations
            ]
            for unit in [*replicas, *stores]:
                local_ops.await_healthy(unit.child, deadline, timeout_s, self._clock)
            for unit in replicas:
                self._await_public(unit, deadline, timeout_s)
            self._supervisor.start()
            self._emit(
                {
                    "type": "platform_started",
                    "version": self.revision,
                    "replicas": self._config.replicas,
                    "base_url": self.base_url,
                    "inventory_url": self.inventory_url,
                    "store_urls": self.store_urls(),
                    "fault_proxies": self.fault_proxies(),
                }
            )
        except BaseException:  # Ctrl-C included: nothing may outlive a failed start
            self._teardown()
            raise

    def stop(self) -> None:
        """Stop supervising, SIGTERM every child, SIGKILL after ~5 s. Idempotent."""
        with self._lock:
            if self._state != "running":
                return
            self._state = "stopping"
        self._teardown()
        self._emit({"type": "platform_stopped", "version": self.revision})

    def __enter__(self) -> LocalPlatform:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what is running -------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Public orders URL, shared by every replica."""
        return f"http://{HOST}:{self._started(self._layout.public_port)}"

    @property
    def inventory_url(self) -> str:
        """URL of the inventory service."""
        return f"http://{HOST}:{self._started(self._layout.inventory_port)}"

    @property
    def revision(self) -> str:
        """The version currently deployed (or being rolled out)."""
        return self._revisions[-1]

    def current_revision(self) -> str | None:
        """The version currently deployed (or being rolled out): :attr:`revision`."""
        return self.revision

    def revisions(self) -> list[str]:
        """Every version deployed, oldest first; a rollback appends the version it restores."""
        return list(self._revisions)

    def endpoints(self) -> Endpoints:
        """Public URL, inventory as the source of truth, store nodes, metrics targets."""
        return Endpoints(
            base_url=self.base_url,
            truth_url=self.inventory_url,
            store_urls=self.store_urls(),
            metrics_targets=tuple(self.metrics_targets()),
        )

    def health(self) -> Health:
        """Ok when the public ``/healthz`` answers 200 and the supervisor has not failed."""
        base_url = self.base_url if self._state == "running" else None
        return local_ops.local_health(base_url, self._state, self._supervisor.error)

    def replicas(self) -> list[ReplicaInfo]:
        """A snapshot of each orders replica."""
        self._check_supervisor()
        with self._lock:
            return [
                ReplicaInfo(
                    name=unit.child.name,
                    pid=unit.child.pid,
                    admin_url=unit.child.origin,
                    version=unit.version,
                    restarts=unit.restarts,
                    alive=unit.child.running,
                )
                for unit in self._units[1:]
            ]

    def store_urls(self) -> dict[str, str]:
        """Store location (``store-1``) to its store node's URL; {} without stores."""
        with self._lock:
            return {unit.child.name: unit.child.origin for unit in self._stores}

    def metrics_targets(self) -> list[str]:
        """``127.0.0.1:port`` of inventory, each replica's admin port and each store."""
        with self._lock:
            return [f"{HOST}:{unit.child.port}" for unit in [*self._units, *self._stores]]

    def fault_proxies(self) -> dict[str, str]:
        """Link name (``orders-inventory``) to its fault proxy's control URL; {} if none."""
        with self._lock:
            return {u.child.name.removeprefix(PROXY_PREFIX): u.child.origin for u in self._proxies}

    # -- chaos and rollout -----------------------------------------------------

    def fault_targets(self) -> FaultTargets:
        """The public URL, the fault proxies and the orders replicas."""
        return local_ops.local_fault_targets(self.base_url, self.fault_proxies(), self.replicas())

    def reap_faults(self) -> list[str]:
        """Remove every toxic of every fault proxy; ``link: toxic`` of each (RevertError)."""
        return local_ops.reset_fault_proxies(self.fault_proxies())

    def kill_replica(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to a process (a replica, ``inventory``, a store, a fault proxy).

        The supervisor restarts it.
        """
        self._check_supervisor()
        with self._lock:
            unit = self._unit(name)
            pid = unit.child.pid
            if pid is None:
                raise InfraError(f"cannot kill {name}: it is not running")
            self._emit({"type": "replica_killed", "replica": name, "pid": pid, "signal": sig})
            unit.child.send_signal(sig)

    def deploy(self, revision: str, timeout_s: float = 30) -> None:
        """Replace the replicas one by one with ``revision``, each healthy before the next.

        The revision is recorded first (like a Deployment's template), so a rollout that
        fails half-way raises InfraError and can still be rolled back.
        """
        self._check_supervisor()
        with self._deploy_lock:
            self._rollout(revision, timeout_s, rollback=False)
            self._rolled_back_to = None

    def rollback(self, to_revision: str | None = None, *, timeout_s: float = 30) -> str:
        """Deploy ``to_revision`` (if ever deployed, else the previous revision); return it.

        Idempotent: right after a rollback (unless another known revision is asked for),
        or when the target is the current revision, nothing happens. Raises RevertError
        when there is no previous revision or the rollout fails.
        """
        self._check_supervisor()
        with self._deploy_lock:
            current = self.revision
            wanted = to_revision if to_revision in self._revisions else None
            if self._rolled_back_to == current and wanted in (None, current):
                return current
            target = local_ops.rollback_target(self._revisions, wanted)
            if target != current:
                try:
                    self._rollout(target, timeout_s, rollback=True)
                except InfraError as err:
                    raise RevertError(f"rollback to {target} failed: {err}") from err
            self._rolled_back_to = target
            return target

    # -- internals ---------------------------------------------------------------

    def _rollout(self, version: str, timeout_s: float, *, rollback: bool) -> None:
        previous = self.revision
        with self._lock:
            self._require_running()
            if version != previous:
                self._revisions.append(version)
        fields: Event = {"from_version": previous, "to_version": version, "rollback": rollback}
        self._emit({"type": "deploy_started", **fields})
        deadline = self._clock() + timeout_s
        for unit in self._units[1:]:
            try:
                self._replace(unit, version, deadline, timeout_s)
            except InfraError as err:
                self._emit({"type": "deploy_failed", **fields, "error": str(err)})
                raise
        self._emit({"type": "deploy_finished", **fields})

    def _replace(self, unit: _Unit, version: str, deadline: float, timeout_s: float) -> None:
        with self._lock:
            self._require_running()
            unit.managed = False
            old = unit.child.proc
        try:
            if old is not None:
                draining = {"replica": unit.child.name, "pid": old.pid, "version": unit.version}
                self._emit({"type": "replica_draining", **draining})
                stop_all([old])
            with self._lock:
                self._require_running()
                unit.version = version
                child = unit.child
                child.argv = self._layout.orders_argv(self._replica_id(unit), version, child.port)
                self._spawn(child)
                unit.reset(self._clock(), self._backoff)
            local_ops.await_healthy(unit.child, deadline, timeout_s, self._clock)
            self._await_public(unit, deadline, timeout_s)
        finally:
            with self._lock:
                unit.managed = True

    def _await_public(self, unit: _Unit, deadline: float, timeout_s: float) -> None:
        """Wait until a replica listens on the public port: it opens it once ready."""
        port = self._layout.public_port
        local_ops.await_listening(unit.child, port, deadline, timeout_s, self._clock)

    def _teardown(self) -> None:
        """Stop the supervisor and every child; safe to call more than once."""
        with self._lock:
            self._state = "stopped"
            units = [*self._units, *self._proxies, *self._stores]
            for unit in units:
                unit.managed = False
            procs = [u.child.proc for u in units if u.child.proc is not None]
        self._supervisor.stop()
        stop_all(procs)
        self._spawner.close()
        atexit.unregister(self.stop)

    def _add_unit(
        self, child: ChildProcess, version: str, units: list[_Unit] | None = None
    ) -> _Unit:
        unit = Supervised(child=child, version=version, delay_s=self._backoff.initial_s)
        with self._lock:
            self._require_running()
            (self._units if units is None else units).append(unit)
            self._spawn(child)
            unit.started_at = self._clock()
        return unit

    def _spawn(self, child: ChildProcess) -> None:
        try:
            child.spawn(self._spawner)
        except OSError as err:
            raise InfraError(f"cannot start {child.name} ({child.argv[0]}): {err}") from err

    def _respawn(self, unit: _Unit) -> None:
        """Restart a unit with the same command line and ports (called under the lock)."""
        self._require_running()
        unit.child.spawn(self._spawner)

    def _unit(self, name: str) -> _Unit:
        units = [*self._units, *self._proxies, *self._stores]
        for unit in units:
            if unit.child.name == name:
                return unit
        known = ", ".join(u.child.name for u in units) or "none (not started)"
        raise UsageError(f"no replica named {name!r}; known: {known}")

    def _replica_id(self, unit: _Unit) -> int:
        return int(unit.child.name.rsplit("-", 1)[1])

    def _emit(self, event: Event) -> None:
        if self._on_event is not None:
            with self._emit_lock:
                self._on_event(event)

    def _started(self, port: int) -> int:
        if port == 0:
            raise InfraError("local platform has not been started")
        return port

    def _require_running(self) -> None:
        if self._state != "running":
            raise InfraError(f"local platform is {self._state}, not running")

    def _check_supervisor(self) -> None:
        if self._supervisor.error is not None:
            raise InfraError(
                f"local platform supervisor failed: {self._supervisor.error}"
            ) from self._supervisor.error
