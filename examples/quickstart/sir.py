#!/usr/bin/env python3
"""An SIR epidemic model as a SIMBA module.

The population is split into Susceptible, Infectious and Recovered people::

    dS/dt = -beta (1 - c) S I / N
    dI/dt =  beta (1 - c) S I / N - gamma I
    dR/dt =  gamma I

where ``c`` is the ``contactReduction`` that the policy module publishes in commonData.
Each step integrates the equations from the current time to the target time (fourth
order Runge-Kutta, ten sub-steps per day), keeps S, I and R in the
module's moduleData, and publishes the state as commonData ``epidemic``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simba.module import Context, Module

SECONDS_PER_DAY = 86_400.0
#: Runge-Kutta sub-steps per simulated day.
SUBSTEPS_PER_DAY = 10


@dataclass(frozen=True)
class Compartments:
    """How many people are susceptible, infectious and recovered."""

    susceptible: float
    infectious: float
    recovered: float

    def plus(self, other: Compartments, factor: float) -> Compartments:
        """This state plus ``factor`` times ``other`` (a rate of change)."""
        return Compartments(
            self.susceptible + factor * other.susceptible,
            self.infectious + factor * other.infectious,
            self.recovered + factor * other.recovered,
        )


@dataclass(frozen=True)
class Parameters:
    population: float
    beta: float
    """Contacts per day that would infect a susceptible person, without measures."""
    gamma: float
    """Recoveries per infectious person per day."""
    contact_reduction: float
    """Share of contacts avoided because of the current policy (0 to 1)."""


def rates(state: Compartments, p: Parameters) -> Compartments:
    """Rates of change (people per day) of the SIR equations."""
    infections = p.beta * (1.0 - p.contact_reduction) * state.susceptible * state.infectious
    infections /= p.population
    recoveries = p.gamma * state.infectious
    return Compartments(-infections, infections - recoveries, recoveries)


def runge_kutta_step(state: Compartments, p: Parameters, days: float) -> Compartments:
    """Advance ``state`` by ``days`` with one classic Runge-Kutta step."""
    k1 = rates(state, p)
    k2 = rates(state.plus(k1, days / 2), p)
    k3 = rates(state.plus(k2, days / 2), p)
    k4 = rates(state.plus(k3, days), p)
    return state.plus(k1, days / 6).plus(k2, days / 3).plus(k3, days / 3).plus(k4, days / 6)


def integrate(state: Compartments, p: Parameters, days: float) -> Compartments:
    """Advance ``state`` by ``days`` in ``SUBSTEPS_PER_DAY`` equal sub-steps per day."""
    if days <= 0:
        return state
    count = max(1, math.ceil(days * SUBSTEPS_PER_DAY))
    for _ in range(count):
        state = runge_kutta_step(state, p, days / count)
    return state


class SIR(Module):
    """Keeps S, I and R in moduleData and publishes them as commonData ``epidemic``."""

    def start(self, ctx: Context) -> None:
        data = ctx.module_data
        population = float(data["population"])
        infected = float(data["initialInfected"])
        if not 0 < infected <= population:
            raise ValueError("initialInfected must be positive and at most the population")
        state = Compartments(population - infected, infected, 0.0)
        self.save(ctx, state)
        self.publish(ctx, ctx.current_time, state, new_infections=0.0)
        ctx.info(f"population {population:.0f}, {infected:.0f} infectious at the start")

    def step(self, ctx: Context) -> None:
        assert ctx.target_time is not None
        data = ctx.module_data
        before = Compartments(data["S"], data["I"], data["R"])
        parameters = Parameters(
            population=float(data["population"]),
            beta=float(data["beta"]),
            gamma=float(data["gamma"]),
            contact_reduction=float(ctx.common_data.get("contactReduction") or 0.0),
        )
        after = integrate(before, parameters, ctx.step_seconds / SECONDS_PER_DAY)
        self.save(ctx, after)
        self.publish(
            ctx,
            ctx.target_time,
            after,
            new_infections=before.susceptible - after.susceptible,
        )

    def end(self, ctx: Context) -> None:
        data = ctx.module_data
        attack_rate = data["R"] / data["population"]
        ctx.info(f"{data['R']:.0f} people recovered by the end ({attack_rate:.1%} of all)")

    @staticmethod
    def save(ctx: Context, state: Compartments) -> None:
        ctx.module_data.update(S=state.susceptible, I=state.infectious, R=state.recovered)

    @staticmethod
    def publish(
        ctx: Context, when: datetime, state: Compartments, *, new_infections: float
    ) -> None:
        epidemic: dict[str, Any] = {
            "day": when.date().isoformat(),
            "S": state.susceptible,
            "I": state.infectious,
            "R": state.recovered,
            "newInfections": new_infections,
        }
        ctx.common_data["epidemic"] = epidemic


if __name__ == "__main__":
    SIR.main()
