"""platforms package: where faults and rollbacks land (the local processes, Kubernetes)."""

from platforms.faultproxy.client import FaultProxyClient, LeasedFault
from platforms.local import LocalPlatform, OmsConfig, ReplicaInfo

__all__ = ["FaultProxyClient", "LeasedFault", "LocalPlatform", "OmsConfig", "ReplicaInfo"]
