#!/usr/bin/env python3
"""An SDK module (simba.module.Module) run unchanged as local and as resident.

start sets moduleData.count to 0; each step adds 1 to it and sets commonData.total;
end sets moduleData.ended.  Every call appends "<pid> <calls handled by this instance>
<mode> <tick>" to the file named by the environment variable RES_LOG, which shows whether
one process served every call.
"""

import os
import sys
from pathlib import Path

try:
    from simba.module import Context, Module
except ImportError:  # run by an interpreter without simba installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from simba.module import Context, Module


class Counter(Module):
    def __init__(self) -> None:
        self.handled = 0

    def _log(self, ctx: Context) -> None:
        self.handled += 1
        with Path(os.environ["RES_LOG"]).open("a", encoding="utf-8") as log:
            log.write(f"{os.getpid()} {self.handled} {ctx.mode} {ctx.current_tick}\n")

    def start(self, ctx: Context) -> None:
        self._log(ctx)
        ctx.module_data["count"] = 0

    def step(self, ctx: Context) -> None:
        self._log(ctx)
        ctx.module_data["count"] += 1
        ctx.common_data["total"] = ctx.module_data["count"]

    def end(self, ctx: Context) -> None:
        self._log(ctx)
        ctx.module_data["ended"] = True


if __name__ == "__main__":
    Counter.main()
