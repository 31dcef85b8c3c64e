#!/usr/bin/env python3
"""A trivial module written with the SIMBA SDK: counts its steps in moduleData ``steps``.

The same file runs one-shot (``type: local``) and resident (``type: resident``).
"""

import sys
from pathlib import Path

try:
    from simba.module import Context, Module
except ImportError:  # an interpreter without simba installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from simba.module import Context, Module


class StepCounter(Module):
    def step(self, ctx: Context) -> None:
        ctx.module_data["steps"] = ctx.module_data.get("steps", 0) + 1


if __name__ == "__main__":
    StepCounter.main()
