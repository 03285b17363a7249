"""The local platform's handle: a small JSON file telling chaos processes what runs where.

A rehearsal writes it into its run directory (``chaos-platform.json``) when the
embedded OMS is up and rewrites it whenever the supervisor restarts a replica, so a
chaos process in another process finds the replica pids and the fault-proxy control
URLs (``peakops_state_file``)::

    {"platform": "local", "base_url": "http://127.0.0.1:8080",
     "fault_proxies": {"orders-inventory": "http://127.0.0.1:8474"},
     "replicas": [{"name": "orders-1", "pid": 4242, "admin_url": "http://127.0.0.1:8091"}]}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from slo.errors import UsageError

__all__ = ["LocalHandle", "Replica", "read_handle", "write_handle"]


@dataclass(frozen=True)
class Replica:
    """One orders replica; ``pid`` is None while the supervisor restarts it."""

    name: str
    pid: int | None
    admin_url: str


@dataclass(frozen=True)
class LocalHandle:
    base_url: str
    fault_proxies: Mapping[str, str]
    replicas: tuple[Replica, ...]


def write_handle(
    path: Path, *, base_url: str, fault_proxies: Mapping[str, str], replicas: Sequence[Replica]
) -> None:
    """Replace the handle atomically (a reader never sees half a file)."""
    data = {
        "platform": "local",
        "base_url": base_url,
        "fault_proxies": dict(fault_proxies),
        "replicas": [{"name": r.name, "pid": r.pid, "admin_url": r.admin_url} for r in replicas],
    }
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_handle(path: str | Path) -> LocalHandle:
    """Read a handle; a missing or unreadable one is a UsageError naming the file."""
    try:
        data: Any = json.loads(Path(path).read_text())
        handle = LocalHandle(
            base_url=str(data["base_url"]),
            fault_proxies={str(k): str(v) for k, v in dict(data["fault_proxies"]).items()},
            replicas=tuple(
                Replica(str(r["name"]), None if r["pid"] is None else int(r["pid"]),
                        str(r["admin_url"]))
                for r in data["replicas"]
            ),
        )  # fmt: skip
    except FileNotFoundError as err:
        raise UsageError(f"peakops_state_file {str(path)!r}: no such file") from err
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UsageError(f"peakops_state_file {str(path)!r}: unreadable handle: {err}") from err
    admin = [r.admin_url for r in handle.replicas]
    urls = [handle.base_url, *handle.fault_proxies.values(), *admin]
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname != "127.0.0.1":
            raise UsageError(f"peakops_state_file {str(path)!r}: {url!r} is not on 127.0.0.1")
    return handle
