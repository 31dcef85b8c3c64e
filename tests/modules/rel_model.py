#!/usr/bin/env python3
"""A deterministic model for the reliability tests: evolves moduleData and one commonData key.

Each call sets moduleData ``n`` (its call count) and ``acc`` (a hash of its previous ``acc``,
the mode, the tick and the whole commonData it was given) and returns ``acc`` as
commonData[moduleData ``key``], so a skipped, repeated or reordered call changes the final
state.  It sleeps between moduleData ``sleep`` [lo, hi] seconds (chosen from the tick, so
runs repeat exactly).  Environment: ``REL_LOG`` -- append "<key> <mode> <tick>" per call;
``REL_HOLD_DIR`` + ``REL_HOLD_TICK`` -- at that step, write ``held-<key>`` (the PIDs of this
process and of a ``sleep 60`` grandchild) into the directory, then wait up to 60 s for a
file ``release`` there (only the module whose key is ``REL_HOLD_KEY``, if that is set);
``REL_IGNORE_TERM=1`` -- while held, ignore SIGTERM (the grandchild too).  Imports are kept
few: Python start-up is most of a call's time.
"""

import json
import os
import sys
import time
import zlib
from pathlib import Path


def hold(directory, key):
    import signal
    import subprocess

    if os.environ.get("REL_IGNORE_TERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the grandchild
    child = subprocess.Popen(["sleep", "60"])
    marker = Path(directory, f"held-{key}")
    marker.with_suffix(".tmp").write_text(f"{os.getpid()} {child.pid}\n")
    marker.with_suffix(".tmp").replace(marker)
    deadline = time.monotonic() + 60
    while not Path(directory, "release").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    child.kill()
    child.wait()


def main():
    config = json.loads(Path(sys.argv[-1]).read_text(encoding="utf-8"))
    data = dict(config.get("moduleData") or {})
    key, mode, tick = data["key"], config["mode"], config["currentTick"]
    if os.environ.get("REL_LOG"):
        with Path(os.environ["REL_LOG"]).open("a", encoding="utf-8") as log:
            log.write(f"{key} {mode} {tick}\n")
    lo, hi = data.get("sleep", [0, 0])
    time.sleep(lo + (hi - lo) * ((tick * 37 + len(key) * 11) % 10) / 9)
    directory = os.environ.get("REL_HOLD_DIR")
    held = os.environ.get("REL_HOLD_KEY", key) == key
    if directory and held and mode == "step" and str(tick) == os.environ.get("REL_HOLD_TICK"):
        hold(directory, key)
    common = config.get("commonData") or {}
    seed = json.dumps([data.get("acc", 0), mode, tick, common], sort_keys=True).encode()
    acc = zlib.crc32(seed) * 65536 + zlib.adler32(seed) % 65536
    data.update(n=data.get("n", 0) + 1, acc=acc)
    status = {"status": "success", "moduleData": data, "commonData": {key: acc}}
    Path(config["statusFile"]).write_text(json.dumps(status), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
