#!/usr/bin/env python3
"""Records every call it receives, then succeeds; tests read the record to see what it saw.

Appends one JSON line per call to the file named by moduleData ``log`` (or by the
environment variable RECORD_LOG): ``{"config": <the config document>, "argv": [...],
"cwd": ..., "env": {SIMBA_TEST_* variables}}``.  Optional moduleData: ``tag`` and
``mark`` (a list of commonData keys returned with the value "<tag>@<mode><tick>"),
``bump`` (return moduleData with ``n`` incremented), ``returnCommon`` (an object
returned as commonData as is).
"""

import json
import os
import sys
from pathlib import Path


def main() -> int:
    config_path = Path(sys.argv[-1])
    config = json.loads(config_path.read_text(encoding="utf-8"))
    data = config.get("moduleData") or {}
    log = data.get("log") or os.environ["RECORD_LOG"]
    record = {
        "config": config,
        "configPath": str(config_path.absolute()),
        "argv": sys.argv[1:],
        "cwd": str(Path.cwd()),
        "env": {k: v for k, v in os.environ.items() if k.startswith("SIMBA_TEST_")},
    }
    with Path(log).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    status = {"status": "success"}
    common = dict(data.get("returnCommon") or {})
    for key in data.get("mark", []):
        common[key] = f"{data['tag']}@{config['mode']}{config['currentTick']}"
    if common:
        status["commonData"] = common
    if data.get("bump"):
        status["moduleData"] = {**data, "n": data.get("n", 0) + 1}
    Path(config["statusFile"]).write_text(json.dumps(status), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
