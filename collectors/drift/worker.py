"""One share of a parallel drift check, as its own process (``check_run(..., workers=N)``).

``python -m collectors.drift.worker RUN_DIR INDEX COUNT CONFIG_JSON`` checks the SKUs
whose name hashes to INDEX of COUNT and writes its ``DriftTally``, pickled, to stdout.
A bad run directory is reported on stderr with exit code 2. A plain child process,
not ``multiprocessing``: nothing of the caller's main module is re-imported.
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

from collectors.drift.checker import check_share
from collectors.drift.model import DriftConfig
from slo.errors import RunDirError

__all__ = ["main"]

BAD_RUN = 2


def main(argv: list[str]) -> int:
    path, index, count, config = argv
    try:
        tally = check_share(Path(path), DriftConfig(**json.loads(config)), int(index), int(count))
    except RunDirError as err:
        sys.stderr.write(str(err))
        return BAD_RUN
    sys.stdout.buffer.write(pickle.dumps(tally, protocol=pickle.HIGHEST_PROTOCOL))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
