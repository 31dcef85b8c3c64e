#!/usr/bin/env python3
"""The SIMBA side of the peers benchmark (benchmarks/scale.py), written with the SDK.

``peer_sdk.py publish``: each step sets commonData ``value`` to the step's tick.
``peer_sdk.py read``: each step reads commonData ``value`` and counts the steps that saw
the value A published at this tick (moduleData ``seen``), so every exchange is checked.
"""

import sys
from pathlib import Path

try:
    from simba.module import Context, Module
except ImportError:  # an interpreter without simba installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from simba.module import Context, Module


class Publisher(Module):
    def step(self, ctx: Context) -> None:
        ctx.common_data["value"] = ctx.current_tick


class Reader(Module):
    def step(self, ctx: Context) -> None:
        if ctx.common_data.get("value") == ctx.current_tick:
            ctx.module_data["seen"] = ctx.module_data.get("seen", 0) + 1


if __name__ == "__main__":
    role = sys.argv.pop(1)
    (Publisher if role == "publish" else Reader).main()
