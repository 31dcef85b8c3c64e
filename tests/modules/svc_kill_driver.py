#!/usr/bin/env python3
"""Kills the SIMBA process that called it, with SIGKILL, once; otherwise just succeeds.

At the step at tick ``$KILL_TICK``, if the file ``$KILL_FLAG`` does not exist, it creates
the file and sends SIGKILL to its parent (the driver), then waits to be cleaned up.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

config = json.loads(Path(sys.argv[-1]).read_text(encoding="utf-8"))
flag = Path(os.environ["KILL_FLAG"])
due = config["mode"] == "step" and str(config["currentTick"]) == os.environ["KILL_TICK"]
if due and not flag.exists():
    flag.write_text("killed\n")
    os.kill(os.getppid(), signal.SIGKILL)
    time.sleep(60)
Path(config["statusFile"]).write_text(json.dumps({"status": "success"}), encoding="utf-8")
