#!/usr/bin/env python3
"""A public-health policy as a SIMBA module.

After every epidemic step it looks at the number of infectious people in commonData
``epidemic`` and sets commonData ``contactReduction``: it imposes measures (a share of
contacts avoided, moduleData ``reduction``) when infections exceed ``imposeAbove`` and
lifts them when they fall below ``liftBelow``.  The gap between the two thresholds keeps
the policy from switching back and forth every day.
"""

from __future__ import annotations

from typing import Any

from simba.module import Context, Module


class Policy(Module):
    """Switches contact-reducing measures on and off with two thresholds."""

    def start(self, ctx: Context) -> None:
        if ctx.module_data["liftBelow"] >= ctx.module_data["imposeAbove"]:
            raise ValueError("liftBelow must be below imposeAbove")
        ctx.module_data["changes"] = 0
        ctx.common_data["contactReduction"] = 0.0

    def step(self, ctx: Context) -> None:
        epidemic: dict[str, Any] | None = ctx.common_data.get("epidemic")
        if not epidemic:
            ctx.error("no epidemic state in commonData yet; keeping the current policy")
            return
        infectious = float(epidemic["I"])
        in_force = float(ctx.common_data.get("contactReduction") or 0.0) > 0
        settings = ctx.module_data
        if not in_force and infectious > settings["imposeAbove"]:
            reduction = float(settings["reduction"])
            self.change(ctx, reduction)
            ctx.info(
                f"{epidemic['day']}: {infectious:.0f} infectious (above "
                f"{settings['imposeAbove']}); measures imposed, contacts cut by {reduction:.0%}"
            )
        elif in_force and infectious < settings["liftBelow"]:
            self.change(ctx, 0.0)
            ctx.info(
                f"{epidemic['day']}: {infectious:.0f} infectious (below "
                f"{settings['liftBelow']}); measures lifted"
            )

    def end(self, ctx: Context) -> None:
        ctx.info(f"the policy changed {ctx.module_data['changes']} times")

    @staticmethod
    def change(ctx: Context, reduction: float) -> None:
        ctx.common_data["contactReduction"] = reduction
        ctx.module_data["changes"] += 1


if __name__ == "__main__":
    Policy.main()
