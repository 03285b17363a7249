"""A stand-in for ``python -m reference_oms``: same command line, answers ``/healthz`` only.

Run as ``python -m standin_oms`` with this folder on ``PYTHONPATH``. Switches, from the
environment, so a test can make a child misbehave:

- ``STANDIN_FAIL=inventory|orders``: that role writes a message to stderr and exits 2.
- ``STANDIN_CRASH_FILE=PATH``: orders replicas exit 3 at start while PATH exists.
- ``--version crash``: an orders replica exits 4 at start (a bad release).
- ``--version unready``: an orders replica answers 503 forever.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["main"]

READY_AFTER_S = 0.1


class _ReusePortServer(ThreadingHTTPServer):
    """Binds with SO_REUSEPORT, as every orders replica shares the public port."""

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


def _handler(body: dict[str, object], ready_at: float, unready: bool) -> type:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ready = not unready and time.monotonic() >= ready_at
            status = 200 if ready else 503
            payload = json.dumps(body if ready else {"status": "starting"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="standin_oms")
    sub = parser.add_subparsers(dest="role", required=True)
    inventory = sub.add_parser("inventory")
    orders = sub.add_parser("orders")
    for role in (inventory, orders):
        role.add_argument("--host", default="127.0.0.1")
        role.add_argument("--port", type=int, required=True)
        role.add_argument("--db", required=True)
    for flag in ("--skus", "--locations", "--seed", "--min-stock", "--max-stock"):
        inventory.add_argument(flag, type=int)
    orders.add_argument("--admin-port", type=int, required=True)
    orders.add_argument("--inventory-url", required=True)
    orders.add_argument("--version", required=True)
    orders.add_argument("--replica-id", type=int, default=1)
    return parser.parse_args(argv)


def _refuse_to_start(args: argparse.Namespace) -> int:
    """The exit code a misbehaving child should die with now, or 0 to start."""
    if os.environ.get("STANDIN_FAIL") == args.role:
        print(
            f"standin_oms: {args.role}: cannot open {args.db}: simulated failure", file=sys.stderr
        )
        return 2
    if args.role != "orders":
        return 0
    crash_file = os.environ.get("STANDIN_CRASH_FILE")
    if crash_file and Path(crash_file).exists():
        print(f"standin_oms: replica {args.replica_id}: crash file present", file=sys.stderr)
        return 3
    if args.version == "crash":
        print(f"standin_oms: replica {args.replica_id}: version crash is broken", file=sys.stderr)
        return 4
    return 0


def main(argv: list[str] | None = None) -> int:
    """Serve until killed."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    code = _refuse_to_start(args)
    if code:
        return code
    ready_at = time.monotonic() + READY_AFTER_S
    if args.role == "inventory":
        body: dict[str, object] = {"status": "ok"}
        ThreadingHTTPServer((args.host, args.port), _handler(body, ready_at, False)).serve_forever()
        return 0
    body = {"status": "ok", "version": args.version, "replica": args.replica_id}
    public = _ReusePortServer((args.host, args.port), _handler(body, ready_at, False))
    threading.Thread(target=public.serve_forever, daemon=True).start()
    unready = args.version == "unready"
    admin = ThreadingHTTPServer((args.host, args.admin_port), _handler(body, ready_at, unready))
    print(f"standin_oms: replica {args.replica_id} {args.version} up", flush=True)
    admin.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
