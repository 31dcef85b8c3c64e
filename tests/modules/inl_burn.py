#!/usr/bin/env python3
"""A resident SDK module (run with the inline protocol) that burns CPU in one call only.

Each step adds 1 to moduleData.count; the step at the tick given as the first argument
first spins for 0.4 s of CPU, so the run database must charge that CPU to that call and
not to the calls around it (SIMBA reads a resident call's /proc figures after it answers).
"""

import sys
import time
from pathlib import Path

try:
    from simba.module import Context, Module
except ImportError:  # run by an interpreter without simba installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from simba.module import Context, Module


class Burner(Module):
    def step(self, ctx: Context) -> None:
        if ctx.current_tick == int(sys.argv[1]):
            until = time.process_time() + 0.4
            while time.process_time() < until:
                pass
        ctx.module_data["count"] = ctx.module_data.get("count", 0) + 1


if __name__ == "__main__":
    Burner.main()
