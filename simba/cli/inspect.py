"""``simba validate``, ``plan`` and ``schema``: look at a scenario without running it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from simba.cli.terminal import Terminal

if TYPE_CHECKING:
    from simba.plan import Batch
    from simba.scenario.timeline import Timeline

SCENARIO = click.argument("scenario", type=click.Path(path_type=Path))


@click.command(short_help="Check a scenario, run nothing; list every problem.")
@SCENARIO
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def validate(scenario: Path, as_json: bool) -> None:
    """Check SCENARIO without running anything; exit 2 listing every problem."""
    from simba.errors import ScenarioError
    from simba.plan import Plan
    from simba.scenario import load_scenario
    from simba.wording import counted

    terminal = Terminal()
    try:
        loaded = load_scenario(scenario)
    except ScenarioError as error:
        if as_json:  # the findings on stdout; the message and exit 2 as for any error
            problems = [dataclasses.asdict(problem) for problem in error.problems]
            terminal.json({"valid": False, "problems": problems})
        raise
    plan = Plan(loaded)
    timeline = loaded.timeline
    warnings = [str(problem) for problem in loaded.missing_submitters()]
    facts = {
        "valid": True,
        "modules": [m.name for m in loaded.modules],
        "services": [m.name for m in loaded.services],
        "initialTick": timeline.initial_tick,
        "finalTick": timeline.final_tick,
        "initialTime": timeline.time(timeline.initial_tick).isoformat(),
        "finalTime": timeline.time(timeline.final_tick).isoformat(),
        "calls": plan.call_count,
        "dependencyMode": loaded.dependency_mode,
        "warnings": warnings,
    }
    for warning in warnings:  # valid, but it cannot run on this machine
        terminal.err.write(f"warning: {warning}\n")
    if as_json:
        terminal.json(facts)
        return
    terminal.line(
        f"{scenario}: valid; {counted(len(loaded.modules), 'module')}"
        + (f" and {counted(len(loaded.services), 'service')}" if loaded.services else "")
        + f", ticks {facts['initialTick']}.."
        f"{facts['finalTick']} ({facts['initialTime']} .. {facts['finalTime']}), "
        f"{counted(plan.call_count, 'call')}"
    )


def _tick_range(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    start, sep, stop = value.partition(":")
    try:
        first, last = (
            (int(start) if start else None, int(stop) if stop else None)
            if sep
            else (int(start), int(start))
        )
    except ValueError:
        raise click.BadParameter("write A:B, A:, :B or A (tick numbers)") from None
    if first is not None and last is not None and first > last:
        raise click.BadParameter(f"the range {value} is empty; write the smaller tick first")
    return first, last


@click.command(short_help="Show the tick/time table and the order of calls.")
@SCENARIO
@click.option(
    "--ticks",
    callback=_tick_range,
    metavar="A:B",
    help="Only steps at ticks A..B (inclusive); either side may be left out.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON lines.")
def plan(scenario: Path, ticks: tuple[int | None, int | None] | None, as_json: bool) -> None:
    """Show the tick/time table and the order of calls, without running.

    The rows are printed as they are planned, so that a plan of millions of ticks
    takes no more memory than a short one.
    """
    from simba.plan import Plan
    from simba.scenario import load_scenario

    terminal = Terminal()
    loaded = load_scenario(scenario)
    the_plan = Plan(loaded)
    first, last = ticks if ticks else (None, None)
    batches = the_plan.batches(first_tick=first, last_tick=last)
    if as_json:
        terminal.lines(_json_rows(loaded.timeline, batches))
        return
    terminal.line(
        f"plan of {scenario}: final tick {loaded.timeline.final_tick}, {the_plan.call_count} calls"
    )
    terminal.lines(_table_rows(loaded.timeline, batches))


def _json_rows(timeline: Timeline, batches: Iterable[Batch]) -> Iterator[str]:
    """One JSON document per batch: its mode, tick, time, calls and their target ticks."""
    import json as jsonlib

    for batch in batches:
        yield jsonlib.dumps(
            {
                "mode": batch.mode.value,
                "tick": batch.tick,
                "time": timeline.time(batch.tick).isoformat(),
                "calls": [c.module.name for c in batch.calls],
                "targetTicks": [c.target_tick for c in batch.calls],
            }
        )


def _table_rows(timeline: Timeline, batches: Iterable[Batch]) -> Iterator[str]:
    """The plan as a text table, a row per batch, its column widths known in advance."""
    ends = (timeline.initial_tick, timeline.final_tick)
    tick_width = max(len("tick"), *(len(str(tick)) for tick in ends))
    time_width = max(len("time"), *(len(timeline.time(tick).isoformat()) for tick in ends))
    yield f"{'mode':<5}  {'tick':<{tick_width}}  {'time':<{time_width}}  " + (
        "calls in order (module->target tick)"
    )
    for batch in batches:
        calls = " ".join(
            c.module.name + (f"->{c.target_tick}" if c.target_tick is not None else "")
            for c in batch.calls
        )
        time_text = timeline.time(batch.tick).isoformat()
        yield (
            f"{batch.mode.value:<5}  {batch.tick:<{tick_width}}  {time_text:<{time_width}}  {calls}"
        ).rstrip()


@click.command()
@click.argument(
    "name",
    type=click.Choice(["driver", "schedule", "module", "status", "descriptor", "sweep"]),
)
def schema(name: str) -> None:
    """Print SIMBA's JSON Schema NAME (draft 2020-12)."""
    from simba.schemas import schema_path

    Terminal().line(schema_path(name).read_text(encoding="utf-8").rstrip())
