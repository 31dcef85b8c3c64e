#!/usr/bin/env python3
"""A module that speaks the bare protocol, with the standard library only.

The driver calls it with the path of a config document.  It prints an ``INFO:`` line
describing the call and writes a status file that reports success; a module that was
given moduleData also counts its calls there (``calls``), so each call sees how many
calls came before it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def describe(config: dict[str, Any]) -> str:
    mode = config["mode"]
    where = f"tick {config['currentTick']} ({config['currentTime']})"
    if mode == "step":
        return f"step from {where} to tick {config['targetTick']} ({config['targetTime']})"
    return f"{mode} at {where}"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} CONFIG_FILE", file=sys.stderr)
        return 2
    config: dict[str, Any] = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    print(f"INFO: {describe(config)}", flush=True)
    status: dict[str, Any] = {"status": "success"}
    module_data = config.get("moduleData")
    if module_data is not None:
        status["moduleData"] = {**module_data, "calls": module_data.get("calls", 0) + 1}
    Path(config["statusFile"]).write_text(json.dumps(status) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
