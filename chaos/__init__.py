"""chaos package: Chaos Toolkit experiments, their providers, fault leases and the runner."""

from chaos.leases import LEASES, Leases, Renewer
from chaos.settings import ChaosSettings, parse_settings

__all__ = ["LEASES", "ChaosSettings", "Leases", "Renewer", "parse_settings"]
