#!/usr/bin/env python3
"""A step module that uses the services named in its config: it POSTs ``/job`` to each.

It checks that ``services.<name>.api`` is in its config document, then (in every mode)
sends ``POST /job`` to every service listed in moduleData ``use`` (default: all) and
appends ``"<mode> <tick> <service> <url>"`` to the file moduleData ``log`` if given.
moduleData ``sleep`` (seconds) makes each step take that long first.
"""

import json
import sys
import time
import urllib.request
from pathlib import Path

config = json.loads(Path(sys.argv[-1]).read_text(encoding="utf-8"))
data = config.get("moduleData") or {}
services = config.get("services") or {}
if config["mode"] == "step":
    time.sleep(float(data.get("sleep", 0)))
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
for name in data.get("use", sorted(services)):
    url = services[name]["api"]
    opener.open(urllib.request.Request(url.rstrip("/") + "/job", method="POST"), timeout=10).close()
    if "log" in data:
        with Path(data["log"]).open("a", encoding="utf-8") as log:
            log.write(f"{config['mode']} {config['currentTick']} {name} {url}\n")
Path(config["statusFile"]).write_text(json.dumps({"status": "success"}), encoding="utf-8")
