"""The fault proxy (docs/faults.md): a TCP proxy on a link whose leased toxics make
latency and network faults, and its client. This module only re-exports."""

from platforms.faultproxy.client import DEFAULT_LEASE_S, FaultProxyClient, LeasedFault
from platforms.faultproxy.server import LOOPBACK, FaultProxy, ProxyThread, main, parse_address

__all__ = [
    "DEFAULT_LEASE_S",
    "LOOPBACK",
    "FaultProxy",
    "FaultProxyClient",
    "LeasedFault",
    "ProxyThread",
    "main",
    "parse_address",
]
