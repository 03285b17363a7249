"""A private nginx for the benchmarks: temp config, 127.0.0.1, a free port, one worker.

Never the system service: it runs in the foreground (``daemon off``) as our child,
with its pid file, logs and temp directories in a directory we own, and is stopped
(master and worker) when the ``with`` block ends, whatever ends it.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import subprocess
from pathlib import Path
from types import TracebackType

import psutil
from _harness import free_port, spawn, stop, tail, wait_for

__all__ = ["Nginx", "find_nginx"]

BODY = "ok\n"
START_TIMEOUT_S = 10.0
_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")

CONFIG = """\
worker_processes 1;
daemon off;
master_process on;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            default_type text/plain;
            return 200 "{body}";
        }}
    }}
}}
"""


def find_nginx() -> str | None:
    """The nginx binary, or None when it is not installed."""
    found = shutil.which("nginx")
    if found:
        return found
    return next((c for c in _CANDIDATES if os.access(c, os.X_OK)), None)


class Nginx:
    """nginx answering ``GET /`` with a fixed tiny 200, for as long as the block runs."""

    body_bytes = len(BODY)

    def __init__(self, binary: str, work: Path) -> None:
        self.binary = binary
        self.work = work
        self.port = 0
        self.child: subprocess.Popen[bytes] | None = None
        self.version = "nginx"
        self._pids: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        """Master and worker: the processes whose CPU is the target's."""
        return list(self._pids)

    def __enter__(self) -> Nginx:
        self.work.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = self.work / "nginx.conf"
        config.write_text(CONFIG.format(work=self.work, port=self.port, body=BODY.strip()))
        log = self.work / "stderr.log"
        version = subprocess.run(
            [self.binary, "-v"], capture_output=True, text=True, timeout=10, check=False
        )
        self.version = (version.stderr.strip().split(":")[-1].strip()) or "nginx"
        with log.open("ab") as out:
            self.child = spawn(
                [self.binary, "-p", str(self.work), "-c", str(config),
                 "-e", str(self.work / "error.log")],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            child = self.child
            up = wait_for(lambda: child.poll() is not None or self._answers(),
                          timeout_s=START_TIMEOUT_S)  # fmt: skip
            if not up or child.poll() is not None:
                raise RuntimeError(
                    f"nginx did not answer on {self.url} within {START_TIMEOUT_S:.0f} s:\n"
                    + tail(log)
                    + "\n"
                    + tail(self.work / "error.log")
                )
            master = psutil.Process(self.child.pid)
            self._pids = [master.pid, *(c.pid for c in master.children())]
        except BaseException:
            self._stop()
            raise
        return self

    def _answers(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            connection.request("GET", "/")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        if self.child is None:
            return
        stop(self.child, signal.SIGTERM)  # nginx: fast shutdown, workers included
        for pid in self._pids[1:]:  # a worker whose master was killed outright
            with contextlib.suppress(psutil.Error):
                worker = psutil.Process(pid)
                if worker.name().startswith("nginx"):
                    worker.kill()
        self.child = None
