#!/usr/bin/env python3
"""A module as written for the reference driver (no SIMBA import): records what it sees.

Each step appends commonData.total, as published by the counter just before it in the
same tick, to moduleData.seen.  It writes the status file the config document names.
"""

import json
import sys
from pathlib import Path

config = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
data = dict(config.get("moduleData") or {})
data.setdefault("seen", [])
if config["mode"] == "step":
    data["seen"] = [*data["seen"], config["commonData"]["total"]]
status = {"status": "success", "moduleData": data}
Path(config["statusFile"]).write_text(json.dumps(status), encoding="utf-8")
