"""Start a stand-in LocalPlatform, write its children's pids, then hold or just exit.

``python run_platform.py WORK_DIR hold`` waits (at most 60 s) to be killed;
``python run_platform.py WORK_DIR exit`` returns without calling ``stop()``, leaving the
clean-up to the platform's ``atexit`` hook. Events go to WORK_DIR/events.jsonl.
Needs the repo and this folder on PYTHONPATH.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import psutil

from platforms.local import LocalPlatform, OmsConfig

__all__ = ["main"]


def main(work_dir: Path, mode: str) -> int:
    """Run the platform as ``mode`` says."""
    events = (work_dir / "events.jsonl").open("a", buffering=1)
    config = OmsConfig(replicas=2, module="standin_oms")
    platform = LocalPlatform(config, work_dir, on_event=lambda e: print(json.dumps(e), file=events))
    platform.start()
    pids = [child.pid for child in psutil.Process().children()]
    tmp = work_dir / "pids.json.tmp"
    tmp.write_text(json.dumps(pids))
    tmp.rename(work_dir / "pids.json")
    if mode == "hold":
        time.sleep(60)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2]))
