#!/usr/bin/env python3
"""An SDK module that sets 20 numeric commonData keys (``k00`` .. ``k19``) at every step.

Each key follows its own smooth curve of the tick; moduleData ``shift`` (default 0)
is added to ``k07`` from tick ``shiftFrom`` on, so two runs can differ late in a run.
"""

import math
import sys
from pathlib import Path

try:
    from simba.module import Context, Module
except ImportError:  # an interpreter without simba installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from simba.module import Context, Module


class Twenty(Module):
    def step(self, ctx: Context) -> None:
        tick = ctx.current_tick
        for index in range(20):
            ctx.common_data[f"k{index:02d}"] = 1000.0 * math.sin(tick / (50.0 + index)) + index
        if tick >= ctx.module_data.get("shiftFrom", 0):
            ctx.common_data["k07"] += ctx.module_data.get("shift", 0.0)


if __name__ == "__main__":
    Twenty.main()
