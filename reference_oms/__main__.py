"""Command line: `python -m reference_oms inventory ...`, `... orders ...` and `... store ...`."""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
import threading
from collections.abc import Sequence
from urllib.parse import urlsplit

from .catalog import CatalogSpec, is_store_location
from .inventory_app import InventorySettings, create_inventory_app
from .orders_app import OrdersSettings, create_orders_app
from .serving import listen_socket, serve
from .store_app import StoreSettings, create_store_app
from .tracing import build_tracer_provider

__all__ = ["build_parser", "main"]


def _loopback_host(value: str) -> str:
    if not _is_loopback_ip(value):
        raise argparse.ArgumentTypeError(f"refusing to bind {value!r}: only loopback is allowed")
    return value


def _loopback_url(value: str) -> str:
    parts = urlsplit(value)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not (host == "localhost" or _is_loopback_ip(host)):
        raise argparse.ArgumentTypeError(
            f"inventory url must be http(s) on loopback, got {value!r}"
        )
    return value.rstrip("/")


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _add_inventory(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "inventory",
        help="run the inventory service (source of truth)",
        description="Run the inventory service: stock, reservations, change feed.",
    )
    p.add_argument("--port", type=int, required=True, help="port to listen on")
    p.add_argument("--db", required=True, help="SQLite file (created and seeded if new)")
    p.add_argument("--host", type=_loopback_host, default="127.0.0.1", help="loopback address")
    p.add_argument("--skus", type=int, default=200, help="catalog size when seeding")
    p.add_argument("--locations", type=int, default=2, help="number of warehouses when seeding")
    p.add_argument("--stores", type=int, default=0, help="number of store locations when seeding")
    p.add_argument("--seed", type=int, default=42, help="random seed for the starting stock")
    p.add_argument("--min-stock", type=int, default=20, help="least on-hand per sku/location")
    p.add_argument("--max-stock", type=int, default=200, help="most on-hand per sku/location")
    _add_traces_file(p)


def _add_orders(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "orders",
        help="run one orders replica",
        description="Run one orders replica; replicas share --port.",
    )
    p.add_argument(
        "--port", type=int, required=True, help="public port, shared by all replicas (SO_REUSEPORT)"
    )
    p.add_argument(
        "--admin-port",
        type=int,
        required=True,
        help="this replica's own port (health, per-replica metrics)",
    )
    p.add_argument(
        "--inventory-url",
        type=_loopback_url,
        required=True,
        help="base URL of the inventory service, e.g. http://127.0.0.1:8100",
    )
    p.add_argument("--db", required=True, help="orders SQLite file shared by all replicas")
    p.add_argument(
        "--version",
        choices=["v1", "v2"],
        required=True,
        help="v1 = correct; v2 = the oversell + latency regression",
    )
    p.add_argument("--replica-id", type=int, default=1, help="this replica's number")
    p.add_argument("--host", type=_loopback_host, default="127.0.0.1", help="loopback address")
    p.add_argument(
        "--marketplace-sync",
        type=float,
        default=0.5,
        help="seconds between marketplace view refreshes (0 = live)",
    )
    p.add_argument(
        "--ship-from-store",
        action="store_true",
        help="also sell store stock online (by default only each store's own node sells it)",
    )
    _add_traces_file(p)


def _store_location(value: str) -> str:
    if not (is_store_location(value) and re.fullmatch(r"store-[1-9][0-9]*", value)):
        raise argparse.ArgumentTypeError(f"a store sells a store location (store-N), got {value!r}")
    return value


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected seconds, got {value!r}") from err
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {value!r}")
    return seconds


def _add_store(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "store",
        help="run one store node (a till that keeps selling while inventory is unreachable)",
        description="Run one store node: sells its own location, store-and-forward.",
    )
    p.add_argument("--port", type=int, required=True, help="port to listen on")
    p.add_argument(
        "--inventory-url",
        type=_loopback_url,
        required=True,
        help="base URL of the inventory service, e.g. http://127.0.0.1:8100",
    )
    p.add_argument("--db", required=True, help="the store's own SQLite file (sales, outbox)")
    p.add_argument(
        "--location", type=_store_location, required=True, help="the store's location, store-N"
    )
    p.add_argument("--host", type=_loopback_host, default="127.0.0.1", help="loopback address")
    p.add_argument(
        "--inventory-timeout",
        type=_positive_seconds,
        default=0.5,
        help="seconds to connect to and hear from inventory before selling offline",
    )
    p.add_argument(
        "--retry-interval",
        type=_positive_seconds,
        default=0.25,
        help="seconds between attempts to forward the outbox",
    )
    _add_traces_file(p)


def _add_traces_file(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--traces-file",
        default=None,
        metavar="PATH",
        help="append spans here as OTLP-JSON lines (unless OTEL_EXPORTER_OTLP_ENDPOINT is "
        "set: then OTLP goes there); neither = tracing off",
    )


def build_parser() -> argparse.ArgumentParser:
    """The `python -m reference_oms` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m reference_oms",
        description="The embedded reference OMS (system under test for peakops).",
    )
    sub = parser.add_subparsers(dest="process", required=True, metavar="{inventory,orders,store}")
    _add_inventory(sub)
    _add_orders(sub)
    _add_store(sub)
    return parser


def _run_inventory(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    try:
        catalog = CatalogSpec(
            args.skus, args.locations, args.seed, args.min_stock, args.max_stock, args.stores
        )
    except ValueError as err:
        parser.error(str(err))
    stopping = threading.Event()
    provider = build_tracer_provider("inventory", args.traces_file)
    app = create_inventory_app(InventorySettings(args.db, catalog), stopping, provider)
    try:
        serve(app, [listen_socket(args.host, args.port)], stopping)
    finally:
        if provider is not None:
            provider.shutdown()


def _run_orders(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if args.port == args.admin_port:
        parser.error("--admin-port must differ from --port")
    if args.marketplace_sync < 0:
        parser.error("--marketplace-sync must be >= 0")
    settings = OrdersSettings(
        args.inventory_url,
        args.db,
        args.version,
        args.replica_id,
        args.marketplace_sync,
        args.ship_from_store,
    )
    sockets = [
        listen_socket(args.host, args.port, reuse_port=True),
        listen_socket(args.host, args.admin_port),
    ]
    instance = {
        "service.instance.id": f"orders-{args.replica_id}",
        "service.version": args.version,
    }
    provider = build_tracer_provider("orders", args.traces_file, instance)
    try:
        serve(create_orders_app(settings, tracer_provider=provider), sockets, threading.Event())
    finally:
        if provider is not None:
            provider.shutdown()


def _run_store(args: argparse.Namespace, _: argparse.ArgumentParser) -> None:
    settings = StoreSettings(
        args.inventory_url, args.db, args.location, args.inventory_timeout, args.retry_interval
    )
    instance = {"service.instance.id": args.location}
    provider = build_tracer_provider("store", args.traces_file, instance)
    try:
        app = create_store_app(settings, tracer_provider=provider)
        serve(app, [listen_socket(args.host, args.port)], threading.Event())
    finally:
        if provider is not None:
            provider.shutdown()


RUNNERS = {"inventory": _run_inventory, "orders": _run_orders, "store": _run_store}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the chosen process until it is signalled to stop."""
    parser = build_parser()
    args = parser.parse_args(argv)
    RUNNERS[args.process](args, parser)
    return 0


if __name__ == "__main__":
    sys.exit(main())
