"""platforms package: where the target runs and deploys, rollbacks and faults land.

Re-exports the protocol and the local pieces only: the Kubernetes ones
(``platforms.kubernetes_deployment``, ``platforms.factory``) load the Kubernetes client,
which every process importing this package (the chaos runners) would pay for.
"""

from platforms.base import Endpoints, FaultTargets, Health, Platform, ReplicaTarget
from platforms.faultproxy.client import FaultProxyClient, LeasedFault
from platforms.local import LocalPlatform, OmsConfig, ReplicaInfo

__all__ = [
    "Endpoints",
    "FaultProxyClient",
    "FaultTargets",
    "Health",
    "LeasedFault",
    "LocalPlatform",
    "OmsConfig",
    "Platform",
    "ReplicaInfo",
    "ReplicaTarget",
]
