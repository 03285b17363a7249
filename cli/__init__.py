"""The peakops command line (``peakops = "cli:app"``)."""

from cli.app import app

__all__ = ["app"]
