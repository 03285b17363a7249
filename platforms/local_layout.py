"""Names, ports and command lines of every process the local platform runs.

``LocalPlatform`` decides when processes start and stop; this decides what they are:
``inventory``, ``orders-N`` (sharing the public port), ``store-N`` and one
``faultproxy-<link>`` per link when the config asks for fault proxies (orders and
each store reach inventory over their own link).
"""

from __future__ import annotations

from pathlib import Path

from platforms.oms import (
    FAULT_LINK,
    HOST,
    OmsConfig,
    fault_proxy_argv,
    inventory_argv,
    orders_argv,
    store_argv,
    store_link,
)
from platforms.processes import ChildProcess, free_port

__all__ = ["INVENTORY", "PROXY_PREFIX", "Layout"]

INVENTORY = "inventory"
PROXY_PREFIX = "faultproxy-"


class Layout:
    """Allocates loopback ports once and builds each process's ``ChildProcess``."""

    def __init__(self, config: OmsConfig, work_dir: Path) -> None:
        self.config = config
        self.work_dir = work_dir
        self.ports: set[int] = set()
        self.public_port = 0
        self.inventory_port = 0
        self.proxy_ports: dict[str, int] = {}  # link -> where its proxy listens

    def allocate(self) -> None:
        """Pick the public and inventory ports (the public one may be fixed by the config)."""
        self.public_port = self.config.port or free_port(self.ports)
        self.ports.add(self.public_port)
        self.inventory_port = free_port(self.ports)

    @property
    def links(self) -> list[str]:
        """The links that get a fault proxy: orders -> inventory, then each store's."""
        if not self.config.fault_proxy:
            return []
        return [FAULT_LINK, *(store_link(loc) for loc in self.store_locations)]

    @property
    def store_locations(self) -> list[str]:
        return [f"store-{n}" for n in range(1, self.config.stores + 1)]

    def inventory(self) -> ChildProcess:
        db = self.work_dir / "inventory.db"
        argv = inventory_argv(
            self.config, port=self.inventory_port, db=db, traces_file=self._traces(INVENTORY)
        )
        return self._child(INVENTORY, argv, self.inventory_port)

    def proxy(self, link: str) -> ChildProcess:
        listen = self.proxy_ports[link] = free_port(self.ports)
        control = free_port(self.ports)
        argv = fault_proxy_argv(
            link=link, listen_port=listen, upstream_port=self.inventory_port, control_port=control
        )
        return self._child(PROXY_PREFIX + link, argv, control)

    def orders(self, replica_id: int, version: str) -> ChildProcess:
        admin_port = free_port(self.ports)
        argv = self.orders_argv(replica_id, version, admin_port)
        return self._child(f"orders-{replica_id}", argv, admin_port)

    def orders_argv(self, replica_id: int, version: str, admin_port: int) -> list[str]:
        return orders_argv(
            self.config,
            port=self.public_port,
            admin_port=admin_port,
            inventory_url=self._upstream(FAULT_LINK),
            db=self.work_dir / "orders.db",
            version=version,
            replica_id=replica_id,
            traces_file=self._traces(f"orders-{replica_id}"),
        )

    def store(self, location: str) -> ChildProcess:
        port = free_port(self.ports)
        argv = store_argv(
            self.config,
            port=port,
            location=location,
            inventory_url=self._upstream(store_link(location)),
            db=self.work_dir / f"{location}.db",
            traces_file=self._traces(location),
        )
        return self._child(location, argv, port)

    def _upstream(self, link: str) -> str:
        """Inventory as seen over ``link``: through its fault proxy when there is one."""
        port = self.proxy_ports.get(link, self.inventory_port)
        return f"http://{HOST}:{port}"

    def _traces(self, name: str) -> Path | None:
        traces_dir = self.config.traces_dir
        return None if traces_dir is None else Path(traces_dir) / f"{name}.jsonl"

    def _child(self, name: str, argv: list[str], port: int) -> ChildProcess:
        return ChildProcess(name, argv, log_path=self.work_dir / f"{name}.log", port=port)
