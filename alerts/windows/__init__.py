"""Burn-rate window sets, shipped as data (``<name>.yaml``); ``alerts.window_sets`` reads them."""
