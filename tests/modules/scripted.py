#!/usr/bin/env python3
"""A module whose behaviour is chosen by its moduleData, for testing how SIMBA judges calls.

Every call succeeds ({"status": "success"}) unless moduleData asks otherwise:

- ``onTick`` / ``onMode``: apply the actions below only to calls at this tick / in this mode
  (other calls succeed plainly);
- ``attempts`` + ``counter``: a list of action objects, one per matching invocation
  (counted in the file ``counter``); invocations past the list succeed;
- actions: ``stderr`` / ``stdout`` (lines to print), ``sleep`` (seconds),
  ``killSelf`` (a signal name, e.g. "SIGKILL"), ``status`` (the status value) with
  ``message``, ``raw`` (text written verbatim as the status file), ``bigStatus`` (bytes of
  padding: a valid status object larger than that), ``noStatus`` (write none),
  ``commonData`` / ``setModuleData`` (returned in the status), ``exit`` (exit code, after
  the status file is written).
"""

import json
import os
import signal
import sys
import time
from pathlib import Path


def main() -> int:
    config = json.loads(Path(sys.argv[-1]).read_text(encoding="utf-8"))
    data = config.get("moduleData") or {}
    matches = ("onTick" not in data or data["onTick"] == config["currentTick"]) and (
        "onMode" not in data or data["onMode"] == config["mode"]
    )
    actions = data if matches else {}
    if matches and "attempts" in data:
        counter = Path(data["counter"])
        count = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(count))
        attempts = data["attempts"]
        actions = attempts[count - 1] if count <= len(attempts) else {}
    for line in actions.get("stdout", []):
        print(line, flush=True)
    for line in actions.get("stderr", []):
        print(line, file=sys.stderr, flush=True)
    if "sleep" in actions:
        time.sleep(actions["sleep"])
    if "killSelf" in actions:
        os.kill(os.getpid(), getattr(signal, actions["killSelf"]))
    status_file = Path(config["statusFile"])
    if "raw" in actions:
        status_file.write_text(actions["raw"], encoding="utf-8")
    elif "bigStatus" in actions:
        pad = "x" * actions["bigStatus"]
        status_file.write_text(json.dumps({"status": "success", "moduleData": {"pad": pad}}))
    elif not actions.get("noStatus"):
        status = {"status": actions.get("status", "success")}
        for key in ("message", "error"):
            if key in actions:
                status[key] = actions[key]
        if "commonData" in actions:
            status["commonData"] = actions["commonData"]
        if "setModuleData" in actions:
            status["moduleData"] = actions["setModuleData"]
        status_file.write_text(json.dumps(status), encoding="utf-8")
    return int(actions.get("exit", 0))


if __name__ == "__main__":
    sys.exit(main())
