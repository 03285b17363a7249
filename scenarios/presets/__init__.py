"""Traffic-profile presets shipped as data (``<name>.yaml``), read by ``scenarios.profiles``."""
