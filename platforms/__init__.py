"""platforms package: where faults and rollbacks land (the local processes, Kubernetes)."""

from platforms.local import LocalPlatform, OmsConfig, ReplicaInfo

__all__ = ["LocalPlatform", "OmsConfig", "ReplicaInfo"]
