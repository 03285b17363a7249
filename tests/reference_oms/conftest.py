"""Fixtures that run the reference OMS as real processes on free loopback ports."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

__all__ = [
    "Cluster",
    "Proc",
    "asgi_client",
    "free_port",
    "start_cluster",
    "start_inventory",
    "start_process",
    "wait_healthy",
    "wait_until",
    "wait_until_async",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 15.0


def free_port() -> int:
    """A port nothing listens on right now (bind port 0 on loopback, then release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], object], timeout: float = 5.0, interval: float = 0.02) -> bool:
    """Poll `check()` until it returns truthy (True) or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


async def wait_until_async(check: Callable[[], Awaitable[object]], timeout: float = 5.0) -> bool:
    """Await `check()` until it returns truthy (True) or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


@asynccontextmanager
async def asgi_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """Run `app`'s lifespan and talk to it in-process, without a server or a socket."""
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        yield client


@pytest.fixture
def anyio_backend() -> str:
    """Async tests here run on asyncio, like uvicorn."""
    return "asyncio"


@dataclass
class Proc:
    """A started reference OMS process and where its output goes."""

    popen: subprocess.Popen[bytes]
    log: Path
    health_url: str

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)


def _spawn(args: list[str], log: Path, health_url: str) -> Proc:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with log.open("ab") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", "reference_oms", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Proc(popen, log, health_url)


def start_process(workdir: Path, name: str, args: list[str], health_url: str) -> Proc:
    """Start `python -m reference_oms <args>` logging to `workdir/<name>.log`."""
    return _spawn(args, workdir / f"{name}.log", health_url)


def wait_healthy(procs: list[Proc]) -> None:
    """Wait until every process answers 200 on its health URL (fail if one exits)."""
    _wait_healthy(procs)


def _wait_healthy(procs: list[Proc]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    for proc in procs:
        while True:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"process exited early:\n{proc.log.read_text()}")
            try:
                if httpx.get(proc.health_url, timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"process not healthy in time:\n{proc.log.read_text()}")
            time.sleep(0.05)


@dataclass
class Cluster:
    """An inventory process plus orders replicas sharing one public port."""

    workdir: Path
    inventory_port: int
    public_port: int
    admin_ports: list[int]
    inventory: Proc
    replicas: list[Proc] = field(default_factory=list)
    inventory_args: list[str] = field(default_factory=list)

    @property
    def inventory_url(self) -> str:
        return f"http://127.0.0.1:{self.inventory_port}"

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.public_port}"

    def admin_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.admin_ports[index]}"

    def restart_inventory(self) -> None:
        self.inventory.stop()
        self.inventory = start_inventory(self.workdir, self.inventory_args)
        _wait_healthy([self.inventory])

    def stop(self) -> None:
        for proc in [*self.replicas, self.inventory]:
            proc.stop()


def start_inventory(workdir: Path, args: list[str]) -> Proc:
    """Start inventory with `args` (which carry --port) logging to `workdir`."""
    port = args[args.index("--port") + 1]
    return _spawn(
        ["inventory", *args], workdir / "inventory.log", f"http://127.0.0.1:{port}/healthz"
    )


def _flags(**options: object) -> list[str]:
    """`_flags(min_stock=3)` -> `["--min-stock", "3"]`."""
    return [part for k, v in options.items() for part in (f"--{k.replace('_', '-')}", str(v))]


def _start_replica(cluster: Cluster, replica: int, version: str, marketplace_sync: float) -> None:
    admin = free_port()
    cluster.admin_ports.append(admin)
    args = _flags(
        port=cluster.public_port,
        admin_port=admin,
        inventory_url=cluster.inventory_url,
        db=cluster.workdir / "orders.db",
        version=version,
        replica_id=replica,
        marketplace_sync=marketplace_sync,
    )
    log = cluster.workdir / f"orders-{replica}.log"
    cluster.replicas.append(_spawn(["orders", *args], log, f"http://127.0.0.1:{admin}/healthz"))


def start_cluster(
    workdir: Path,
    version: str,
    replicas: int = 2,
    marketplace_sync: float = 0.5,
    stock: tuple[int, int] = (3, 5),
) -> Cluster:
    """Start inventory (30 SKUs x 2 locations, `stock` units each) and orders replicas."""
    inv_port = free_port()
    inv_args = _flags(
        port=inv_port,
        db=workdir / "inventory.db",
        skus=30,
        min_stock=stock[0],
        max_stock=stock[1],
        seed=7,
    )
    inventory = start_inventory(workdir, inv_args)
    cluster = Cluster(workdir, inv_port, free_port(), [], inventory, inventory_args=inv_args)
    try:
        _wait_healthy([cluster.inventory])
        for replica in range(1, replicas + 1):
            _start_replica(cluster, replica, version, marketplace_sync)
        _wait_healthy(cluster.replicas)
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="module")
def v1_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A correct (v1) cluster with two replicas and a 1 s marketplace sync."""
    cluster = start_cluster(tmp_path_factory.mktemp("v1"), "v1", marketplace_sync=1.0)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def v2_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A regressed (v2) cluster with two replicas."""
    cluster = start_cluster(tmp_path_factory.mktemp("v2"), "v2")
    yield cluster
    cluster.stop()
