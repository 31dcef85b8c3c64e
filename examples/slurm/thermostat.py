#!/usr/bin/env python3
"""A thermostat with hysteresis, as a SIMBA module: it switches commonData ``heating``.

The heater goes on below ``switchOnBelow`` and off above ``switchOffAbove``; in between
it stays as it is, so it does not flicker around one set point.
"""

from __future__ import annotations

from simba.module import Context, Module


class Thermostat(Module):
    def step(self, ctx: Context) -> None:
        data = ctx.module_data
        temperature = float(ctx.common_data["temperature"])
        heating = bool(ctx.common_data["heating"])
        if temperature < float(data["switchOnBelow"]):
            heating = True
        elif temperature > float(data["switchOffAbove"]):
            heating = False
        if heating != ctx.common_data["heating"]:
            ctx.info(f"heating {'on' if heating else 'off'} at {temperature:.1f} degrees")
        ctx.common_data["heating"] = heating


if __name__ == "__main__":
    Thermostat.main()
