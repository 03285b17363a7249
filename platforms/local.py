"""The local platform: the embedded reference OMS as supervised processes on 127.0.0.1.

One inventory process and N orders replicas sharing a public port (SO_REUSEPORT), each
with its own admin port, logs (``inventory.log``, ``orders-N.log``) and SQLite files in
the work directory. With ``OmsConfig.fault_proxy`` the replicas reach inventory through
a supervised fault proxy (``faultproxy-orders-inventory``), see :meth:`fault_proxies`.
A supervisor thread restarts whatever exits, like a ReplicaSet;
``deploy`` and ``rollback`` do a rolling replace. ``reference_oms`` is never imported:
it is started by module name, as a real OMS would be started from its image.

Events passed to ``on_event`` (``replica`` is ``inventory`` or ``orders-N``)::

    platform_started   version, replicas, base_url, inventory_url, fault_proxies
    replica_killed     replica, pid, signal        (kill_replica, before the signal)
    replica_exited     replica, code, restart_in_s
    replica_restarted  replica, restarts, pid, version
    replica_restart_failed  replica, error         (could not even spawn; retried)
    deploy_started / deploy_finished / deploy_failed (+ error)
                       from_version, to_version, rollback
    platform_stopped   version
"""

from __future__ import annotations

import atexit
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from platforms.oms import (
    FAULT_LINK,
    HOST,
    OmsConfig,
    fault_proxy_argv,
    inventory_argv,
    orders_argv,
)
from platforms.processes import ChildProcess, Spawner, free_port, stop_all, wait_healthy
from platforms.supervisor import Backoff, Event, Supervised, Supervisor
from slo.errors import InfraError, RevertError, UsageError

__all__ = ["LocalPlatform", "OmsConfig", "ReplicaInfo"]

_INVENTORY = "inventory"
_PROXY = "faultproxy-"

_Unit = Supervised[ChildProcess]


@dataclass(frozen=True)
class ReplicaInfo:
    """A snapshot of one orders replica.

    ``alive``: its process runs (not necessarily ready yet); ``pid`` is None while it
    waits to be restarted. ``restarts`` counts supervisor restarts since it was deployed.
    """

    name: str
    pid: int | None
    admin_url: str
    version: str
    restarts: int
    alive: bool


class LocalPlatform:
    """Runs, supervises, kills, deploys and rolls back the reference OMS on this machine.

    ``on_event`` is called from the caller's thread or the supervisor's, one call at a
    time; ``replica_killed`` is emitted holding the platform lock so it always precedes
    the exit it causes. ``clock`` drives start/deploy deadlines and restart backoff.
    """

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
        self._ports: set[int] = set()
        self._public_port = 0
        self._inventory_port = 0
        self._proxy_port = 0
        self._units: list[_Unit] = []
        self._proxies: list[_Unit] = []
        self._spawner = Spawner()
        self._supervisor: Supervisor[ChildProcess] = Supervisor(
            lambda: [*self._units, *self._proxies],
            lock=self._lock,
            clock=clock,
            spawn=self._respawn,
            emit=self._emit,
            backoff=self._backoff,
            poll_s=poll_interval_s,
        )

    # -- lifecycle -------------------------------------------------------------

    def start(self, timeout_s: float = 30) -> None:
        """Start inventory, then the replicas, wait until all are healthy, then supervise.

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
            self._public_port = self._config.port or free_port(self._ports)
            self._ports.add(self._public_port)
            self._inventory_port = free_port(self._ports)
            inventory = self._add_unit(self._inventory_child(), "")
            self._await(inventory.child, deadline, timeout_s)
            if self._config.fault_proxy:
                proxy = self._add_unit(self._proxy_child(), "", self._proxies)
                self._await(proxy.child, deadline, timeout_s)
            replicas = [
                self._add_unit(self._orders_child(i), self.revision)
                for i in range(1, self._config.replicas + 1)
            ]
            for unit in replicas:
                self._await(unit.child, deadline, timeout_s)
            self._supervisor.start()
            self._emit(
                {
                    "type": "platform_started",
                    "version": self.revision,
                    "replicas": self._config.replicas,
                    "base_url": self.base_url,
                    "inventory_url": self.inventory_url,
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
        return f"http://{HOST}:{self._started(self._public_port)}"

    @property
    def inventory_url(self) -> str:
        """URL of the inventory service."""
        return f"http://{HOST}:{self._started(self._inventory_port)}"

    @property
    def revision(self) -> str:
        """The version currently deployed (or being rolled out)."""
        return self._revisions[-1]

    @property
    def revisions(self) -> list[str]:
        """Every version deployed, oldest first; a rollback appends the version it restores."""
        return list(self._revisions)

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

    def metrics_targets(self) -> list[str]:
        """``127.0.0.1:port`` of inventory and of each replica's admin port, for scraping."""
        with self._lock:
            return [f"{HOST}:{unit.child.port}" for unit in self._units]

    def fault_proxies(self) -> dict[str, str]:
        """Link name (``orders-inventory``) to its fault proxy's control URL; {} if none."""
        with self._lock:
            return {u.child.name.removeprefix(_PROXY): u.child.origin for u in self._proxies}

    # -- chaos and rollout -----------------------------------------------------

    def kill_replica(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to a replica (``inventory``, a fault proxy); the supervisor restarts it."""
        self._check_supervisor()
        with self._lock:
            unit = self._unit(name)
            pid = unit.child.pid
            if pid is None:
                raise InfraError(f"cannot kill {name}: it is not running")
            self._emit({"type": "replica_killed", "replica": name, "pid": pid, "signal": sig})
            unit.child.send_signal(sig)

    def deploy(self, version: str, timeout_s: float = 30) -> None:
        """Replace the replicas one by one with ``version``, each healthy before the next.

        The revision is recorded first (like a Deployment's template), so a rollout that
        fails half-way raises InfraError and can still be rolled back.
        """
        self._check_supervisor()
        with self._deploy_lock:
            self._rollout(version, timeout_s, rollback=False)
            self._rolled_back_to = None

    def rollback(self, timeout_s: float = 30) -> str:
        """Deploy the revision before the current one and return it.

        Idempotent: right after a rollback, or when the previous revision is the current
        one, nothing happens. Raises RevertError when there is no previous revision or
        the rollout fails.
        """
        self._check_supervisor()
        with self._deploy_lock:
            current = self.revision
            if self._rolled_back_to == current:
                return current
            if len(self._revisions) < 2:
                raise RevertError(f"cannot roll back {current}: no previous revision")
            target = self._revisions[-2]
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
                stop_all([old])
            with self._lock:
                self._require_running()
                unit.version = version
                child = unit.child
                child.argv = self._orders_argv(self._replica_id(unit), version, child.port)
                self._spawn(child)
                unit.reset(self._clock(), self._backoff)
            self._await(unit.child, deadline, timeout_s)
        finally:
            with self._lock:
                unit.managed = True

    def _teardown(self) -> None:
        """Stop the supervisor and every child; safe to call more than once."""
        with self._lock:
            self._state = "stopped"
            units = [*self._units, *self._proxies]
            for unit in units:
                unit.managed = False
            procs = [u.child.proc for u in units if u.child.proc is not None]
        self._supervisor.stop()
        stop_all(procs)
        self._spawner.close()
        atexit.unregister(self.stop)

    def _await(self, child: ChildProcess, deadline: float, timeout_s: float) -> None:
        remaining = max(0.0, deadline - self._clock())
        reason = wait_healthy(child, remaining, clock=self._clock)
        if reason is None:
            return
        raise InfraError(
            f"{child.name} did not become healthy at {child.health_url} within {timeout_s:g}s:"
            f" {reason}; last lines of {child.log_path}:\n{child.log_tail()}"
        )

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
        units = [*self._units, *self._proxies]
        for unit in units:
            if unit.child.name == name:
                return unit
        known = ", ".join(u.child.name for u in units) or "none (not started)"
        raise UsageError(f"no replica named {name!r}; known: {known}")

    def _replica_id(self, unit: _Unit) -> int:
        return int(unit.child.name.rsplit("-", 1)[1])

    def _inventory_child(self) -> ChildProcess:
        db = self._work_dir / "inventory.db"
        traces = self._traces_file(_INVENTORY)
        argv = inventory_argv(self._config, port=self._inventory_port, db=db, traces_file=traces)
        return self._child(_INVENTORY, argv, self._inventory_port)

    def _proxy_child(self) -> ChildProcess:
        self._proxy_port = free_port(self._ports)
        control_port = free_port(self._ports)
        argv = fault_proxy_argv(
            link=FAULT_LINK,
            listen_port=self._proxy_port,
            upstream_port=self._inventory_port,
            control_port=control_port,
        )
        return self._child(_PROXY + FAULT_LINK, argv, control_port)

    def _orders_child(self, replica_id: int) -> ChildProcess:
        admin_port = free_port(self._ports)
        argv = self._orders_argv(replica_id, self.revision, admin_port)
        return self._child(f"orders-{replica_id}", argv, admin_port)

    def _orders_argv(self, replica_id: int, version: str, admin_port: int) -> list[str]:
        proxy = self._proxy_port  # orders reach inventory through the fault proxy, if any
        return orders_argv(
            self._config,
            port=self._public_port,
            admin_port=admin_port,
            inventory_url=f"http://{HOST}:{proxy}" if proxy else self.inventory_url,
            db=self._work_dir / "orders.db",
            version=version,
            replica_id=replica_id,
            traces_file=self._traces_file(f"orders-{replica_id}"),
        )

    def _traces_file(self, name: str) -> Path | None:
        traces_dir = self._config.traces_dir
        return None if traces_dir is None else Path(traces_dir) / f"{name}.jsonl"

    def _child(self, name: str, argv: list[str], port: int) -> ChildProcess:
        return ChildProcess(name, argv, log_path=self._work_dir / f"{name}.log", port=port)

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
