#!/usr/bin/env python3
"""The temperature of a heated room, as a SIMBA module that runs on a SLURM node.

Newton's law of cooling plus a heater that the thermostat switches::

    dT/dt = -loss (T - T_outside) + heater   (degrees per hour; heater 0 when off)

Each step solves this exactly from the current to the target time and publishes the
new ``temperature``.  Every call says where it ran (host and SLURM job), so the run
directory shows that the calls went through the cluster.
"""

from __future__ import annotations

import math
import os
import socket

from simba.module import Context, Module


def temperature_after(
    start: float, hours: float, *, outside: float, loss: float, heat: float
) -> float:
    """The temperature after ``hours``, starting from ``start``."""
    settled = outside + heat / loss  # where the temperature tends to
    return settled + (start - settled) * math.exp(-loss * hours)


class Room(Module):
    def start(self, ctx: Context) -> None:
        self.where(ctx)

    def step(self, ctx: Context) -> None:
        data = ctx.module_data
        heating = bool(ctx.common_data["heating"])
        after = temperature_after(
            float(ctx.common_data["temperature"]),
            ctx.step_seconds / 3600,
            outside=float(data["outsideTemperature"]),
            loss=float(data["lossPerHour"]),
            heat=float(data["heaterDegreesPerHour"]) if heating else 0.0,
        )
        ctx.common_data["temperature"] = round(after, 3)
        self.where(ctx)

    def end(self, ctx: Context) -> None:
        ctx.info(f"final temperature {ctx.common_data['temperature']:.1f} degrees")

    @staticmethod
    def where(ctx: Context) -> None:
        job = os.environ.get("SLURM_JOB_ID", "none")
        ctx.info(f"tick {ctx.current_tick} ran on {socket.gethostname()} in SLURM job {job}")


if __name__ == "__main__":
    Room.main()
