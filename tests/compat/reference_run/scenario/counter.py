#!/usr/bin/env python3
"""A module as written for the reference driver (no SIMBA import): counts its steps.

start sets moduleData.count to 0; each step adds one and publishes it as
commonData.total.  It writes the status file the config document names.
"""

import json
import sys
from pathlib import Path

config = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
data = dict(config.get("moduleData") or {})
status = {"status": "success"}
if config["mode"] == "start":
    data["count"] = 0
elif config["mode"] == "step":
    data["count"] = data.get("count", 0) + 1
    status["commonData"] = {"total": data["count"]}
status["moduleData"] = data
Path(config["statusFile"]).write_text(json.dumps(status), encoding="utf-8")
