#!/usr/bin/env python3
"""A small SIR epidemic for sweeps: which contact rate and vaccination give which peak?

``beta`` and ``gamma`` come from commonData (a sweep varies ``beta``), the vaccinated
share of the population from moduleData (a sweep varies it too).  Each step integrates
the SIR equations over the tick (Euler, 24 sub-steps per day) and publishes the highest
number of infectious people so far (``peakInfected``) and the share of the population
that has been infected (``attackRate``).  It runs as a resident module: one process
for the whole run.
"""

from __future__ import annotations

from simba.module import Context, Module

SUBSTEPS_PER_DAY = 24


class SIR(Module):
    def start(self, ctx: Context) -> None:
        data = ctx.module_data
        population = float(data["population"])
        immune = population * float(data["vaccinated"])
        infected = float(data["initialInfected"])
        data.update(S=population - immune - infected, I=infected, R=0.0, immune=immune)
        ctx.common_data["peakInfected"] = round(infected, 1)
        ctx.common_data["attackRate"] = 0.0

    def step(self, ctx: Context) -> None:
        data = ctx.module_data
        beta, gamma = float(ctx.common_data["beta"]), float(ctx.common_data["gamma"])
        population = float(data["population"])
        s, i, r = data["S"], data["I"], data["R"]
        steps = max(1, round(ctx.step_seconds / 86_400 * SUBSTEPS_PER_DAY))
        dt = ctx.step_seconds / 86_400 / steps
        for _ in range(steps):
            infections = beta * s * i / population * dt
            recoveries = gamma * i * dt
            s, i, r = s - infections, i + infections - recoveries, r + recoveries
        data.update(S=s, I=i, R=r)
        peak = max(float(ctx.common_data["peakInfected"]), i)
        ctx.common_data["peakInfected"] = round(peak, 1)
        ctx.common_data["attackRate"] = round((i + r) / population, 4)


if __name__ == "__main__":
    SIR.main()
