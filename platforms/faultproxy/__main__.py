"""``python -m platforms.faultproxy``: run one fault proxy (see ``platforms.faultproxy.server``)."""

import contextlib
import sys

from platforms.faultproxy.server import main

with contextlib.suppress(KeyboardInterrupt):
    sys.exit(main())
