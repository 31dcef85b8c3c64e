#!/usr/bin/env python3
"""A module written with the SIMBA SDK (simba.module.Module): counts its steps.

start sets moduleData.count to 0; each step adds 1 to it and sets commonData.total to
the count; end sets moduleData.ended.  Every call appends what the SDK handed it
(field types and values) to the JSON-lines file moduleData.log.  moduleData.raiseAt
makes the step at that tick raise ValueError("boom at <tick>").
"""

import json
import sys
from pathlib import Path

try:
    from simba.module import Context, Module
except ImportError:  # run by an interpreter without simba installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from simba.module import Context, Module


class Counter(Module):
    def _record(self, method: str, ctx: Context) -> None:
        entry = {
            "method": method,
            "mode": ctx.mode,
            "currentTick": ctx.current_tick,
            "currentTimeType": type(ctx.current_time).__name__,
            "currentTime": ctx.current_time.isoformat(),
            "lastRunTick": ctx.last_run_tick,
            "lastRunTimeType": type(ctx.last_run_time).__name__,
            "targetTick": ctx.target_tick,
            "targetTimeType": type(ctx.target_time).__name__,
            "stepSeconds": ctx.step_seconds,
            "outputDirectoryType": type(ctx.output_directory).__name__,
        }
        with Path(ctx.module_data["log"]).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    def start(self, ctx: Context) -> None:
        self._record("start", ctx)
        ctx.module_data["count"] = 0

    def step(self, ctx: Context) -> None:
        self._record("step", ctx)
        if ctx.module_data.get("raiseAt") == ctx.current_tick:
            raise ValueError(f"boom at {ctx.current_tick}")
        ctx.module_data["count"] = ctx.module_data.get("count", 0) + 1
        ctx.common_data["total"] = ctx.module_data["count"]
        ctx.info(f"count is {ctx.module_data['count']}")

    def end(self, ctx: Context) -> None:
        self._record("end", ctx)
        ctx.module_data["ended"] = True


if __name__ == "__main__":
    Counter.main()
