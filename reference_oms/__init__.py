"""reference_oms package."""
