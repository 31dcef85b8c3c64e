#!/usr/bin/env python3
"""A stochastic module: each call adds ``scale`` times a random draw to its ``value``.

Draws come from ``random.Random("<seed>:<tick>")`` with the config's ``seed`` (none
given: the operating system's randomness, so runs differ).  Returns moduleData
``{"value", "scale", "seed"}`` (``seed`` as it received it) and, with
updateCommonData, commonData ``total`` = its value.
"""

import json
import random
import sys
from pathlib import Path


def main() -> int:
    config = json.loads(Path(sys.argv[-1]).read_text(encoding="utf-8"))
    data = config.get("moduleData") or {}
    seed = config.get("seed")
    rng = random.Random(f"{seed}:{config['currentTick']}" if seed is not None else None)
    value = data.get("value", 0.0)
    if config["mode"] == "step":
        value += data.get("scale", 1.0) * rng.random()
    status = {
        "status": "success",
        "moduleData": {"value": value, "scale": data.get("scale", 1.0), "seed": seed},
        "commonData": {"total": value},
    }
    Path(config["statusFile"]).write_text(json.dumps(status), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
