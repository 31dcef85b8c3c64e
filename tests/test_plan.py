"""The planner (DESIGN §4): which calls are due at which tick, and in which order."""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from conftest import MODULES
from hypothesis import given, settings
from hypothesis import strategies as st

from simba.plan import Mode, Plan
from simba.scenario import Driver, ModuleSpec, ModuleType, Scenario, load_scenario
from simba.scenario.timeline import Interval, Timeline, parse_duration

OK = str(MODULES / "ok.sh")
START = datetime(2024, 1, 1)


def spec(
    name: str,
    priority: float,
    *,
    start_tick: int | None = None,
    end_tick: int | None = None,
    tick_increment: int = 1,
    depends_on: Iterable[str] | None = None,
    index: int = 1,
) -> ModuleSpec:
    """A ModuleSpec with the defaults the loader would give."""
    return ModuleSpec(
        name=name,
        index=index,
        type=ModuleType.LOCAL,
        argv=(OK,),
        priority=priority,
        start_tick=start_tick,
        end_tick=end_tick,
        tick_increment=tick_increment,
        depends_on=None if depends_on is None else tuple(depends_on),
        update_common_data=False,
        store_front=False,
        module_data=None,
        env={},
        timeout=None,
        retries=0,
        working_directory=Path(),
    )


def scenario(
    modules: Iterable[ModuleSpec], *, final_tick: int = 10, initial_tick: int = 0
) -> Scenario:
    """A Scenario of one-second ticks from ``initial_tick`` to ``final_tick``."""
    interval = Interval(
        start_tick=initial_tick,
        end_tick=None,
        tick_duration=parse_duration("PT1S"),
        duration_text="PT1S",
    )
    end_time = START + timedelta(seconds=final_tick - initial_tick)
    timeline = Timeline(
        initial_tick=initial_tick, initial_time=START, intervals=(interval,), end_time=end_time
    )
    assert timeline.final_tick == final_tick
    driver = Driver(
        initial_time=START,
        end_time=end_time,
        initial_tick=initial_tick,
        intervals=(interval,),
        continue_from_tick=None,
        output_directory=Path("runs"),
        run_id=None,
        cell_id=None,
    )
    numbered = [spec_with_index(module, position + 1) for position, module in enumerate(modules)]
    return Scenario(
        driver=driver,
        timeline=timeline,
        modules=tuple(numbered),
        common_data=None,
        source=Path("scenario.json").absolute(),
        driver_file=Path("scenario.json"),
        schedule_file=Path("scenario.json"),
        fingerprint="",
    )


def spec_with_index(module: ModuleSpec, index: int) -> ModuleSpec:
    return dataclasses.replace(module, index=index)


def steps(plan: Plan, name: str) -> list[tuple[int, int | None]]:
    """(tick, targetTick) of every step call of module ``name``."""
    return [
        (call.tick, call.target_tick)
        for batch in plan.batches()
        for call in batch.calls
        if call.module.name == name and call.mode is Mode.STEP
    ]


def orders(plan: Plan) -> list[tuple[str, int, list[str]]]:
    """(mode, tick, names in order) of every batch."""
    return [
        (batch.mode.value, batch.tick, [call.module.name for call in batch.calls])
        for batch in plan.batches()
    ]


# -- due ticks -----------------------------------------------------------------------------


def test_start_tick_and_tick_increment() -> None:
    """A module steps at s, s+m, ... below the final tick; targets are min(k+m, T)."""
    plan = Plan(scenario([spec("a", 1, start_tick=2, tick_increment=3)], final_tick=10))
    assert steps(plan, "a") == [(2, 5), (5, 8), (8, 10)]


def test_end_tick_is_the_last_target_tick() -> None:
    """endTick 7 stops steps below 7 and caps the last target at 7."""
    plan = Plan(scenario([spec("a", 1, start_tick=2, end_tick=7, tick_increment=3)]))
    assert steps(plan, "a") == [(2, 5), (5, 7)]


def test_end_tick_on_a_due_tick_makes_no_step_there() -> None:
    """A module does not step at its endTick: endTick 8 with steps 2, 5, 8 stops after 5."""
    plan = Plan(scenario([spec("a", 1, start_tick=2, end_tick=8, tick_increment=3)]))
    assert steps(plan, "a") == [(2, 5), (5, 8)]


def test_end_tick_past_the_final_tick_is_capped() -> None:
    """An endTick after the final tick changes nothing: targets never pass T."""
    plan = Plan(scenario([spec("a", 1, end_tick=50, tick_increment=4)], final_tick=10))
    assert steps(plan, "a") == [(0, 4), (4, 8), (8, 10)]


def test_default_start_is_initial_tick() -> None:
    """Without startTick a module steps from initialTick, whatever that is."""
    plan = Plan(scenario([spec("a", 1)], initial_tick=5, final_tick=8))
    assert steps(plan, "a") == [(5, 6), (6, 7), (7, 8)]


def test_start_tick_before_initial_tick_keeps_its_phase() -> None:
    """startTick -4 with increment 3 steps at 2, 5, 8 (the progression -4, -1, 2, ...)."""
    plan = Plan(scenario([spec("a", 1, start_tick=-4, tick_increment=3)], final_tick=10))
    assert steps(plan, "a") == [(2, 5), (5, 8), (8, 10)]


def test_start_tick_at_final_tick_means_no_steps() -> None:
    """A module starting at the final tick makes only its start and end calls."""
    plan = Plan(scenario([spec("a", 1, start_tick=10)], final_tick=10))
    assert steps(plan, "a") == []
    assert plan.call_count == 2


def test_tick_increment_zero_means_start_and_end_only() -> None:
    """tickIncrement 0 gives a start call and an end call and no steps."""
    plan = Plan(scenario([spec("a", 1, tick_increment=0), spec("b", 2)], final_tick=3))
    assert steps(plan, "a") == []
    calls = [(c.module.name, c.mode) for batch in plan.batches() for c in batch.calls]
    assert calls.count(("a", Mode.START)) == 1
    assert calls.count(("a", Mode.END)) == 1
    assert plan.call_count == 2 + 2 + 3


def test_start_and_end_batches() -> None:
    """Every module starts at initialTick and ends at the final tick, without a target."""
    plan = Plan(
        scenario([spec("a", 1), spec("b", 2, tick_increment=0)], initial_tick=3, final_tick=6)
    )
    batches = list(plan.batches())
    assert (batches[0].mode, batches[0].tick) == (Mode.START, 3)
    assert (batches[-1].mode, batches[-1].tick) == (Mode.END, 6)
    for batch in (batches[0], batches[-1]):
        assert sorted(c.module.name for c in batch.calls) == ["a", "b"]
        assert all(c.target_tick is None and c.tick == batch.tick for c in batch.calls)
    assert [b.tick for b in batches[1:-1]] == [3, 4, 5]


def test_ticks_where_nobody_is_due_have_no_batch() -> None:
    """Step batches exist only at ticks where some module is due."""
    plan = Plan(
        scenario([spec("a", 1, tick_increment=4), spec("b", 2, start_tick=2, tick_increment=4)])
    )
    assert [b.tick for b in plan.batches() if b.mode is Mode.STEP] == [0, 2, 4, 6, 8]


def test_step_range_selects_ticks() -> None:
    """batches(first_tick, last_tick) yields only the step batches in that range."""
    plan = Plan(scenario([spec("a", 1, tick_increment=2)], final_tick=10))
    batches = list(plan.batches(first_tick=3, last_tick=7))
    assert [(b.mode, b.tick) for b in batches] == [(Mode.STEP, 4), (Mode.STEP, 6)]


# -- order ---------------------------------------------------------------------------------


def test_higher_priority_runs_first() -> None:
    """Without dependsOn, modules run in priority order, higher first, in every phase."""
    plan = Plan(scenario([spec("low", 1), spec("high", 10), spec("mid", 5)], final_tick=2))
    for _, _, names in orders(plan):
        assert names == ["high", "mid", "low"]


def test_infinity_priorities(write_scenario: Callable[..., Path]) -> None:
    """The string "Infinity" runs before every number and "-Infinity" after every number."""
    path = write_scenario(
        [
            {"name": "last", "command": OK, "priority": "-Infinity"},
            {"name": "middle", "command": OK, "priority": -1e300},
            {"name": "first", "command": OK, "priority": "Infinity"},
            {"name": "second", "command": OK, "priority": 1e300},
        ]
    )
    plan = Plan(load_scenario(path))
    for _, _, names in orders(plan):
        assert names == ["first", "second", "middle", "last"]


def test_depends_on_with_priority_tie_break() -> None:
    """dependsOn comes first; among modules free to run, the higher priority goes first."""
    modules = [
        spec("x", 10, depends_on=["a"]),
        spec("a", 1, depends_on=[]),
        spec("c", 3),
        spec("d", 2),
    ]
    plan = Plan(scenario(modules, final_tick=1))
    for _, _, names in orders(plan):
        assert names == ["c", "d", "a", "x"]


def test_dependency_kept_through_a_module_not_due() -> None:
    """With c -> b -> a and b not due, a still runs before c although c has higher priority."""
    modules = [
        spec("a", 1),
        spec("b", 2, depends_on=["a"], tick_increment=2),
        spec("c", 3, depends_on=["b"]),
    ]
    plan = Plan(scenario(modules, final_tick=4))
    by_tick = {(mode, tick): names for mode, tick, names in orders(plan)}
    assert by_tick["step", 0] == ["a", "b", "c"]
    assert by_tick["step", 1] == ["a", "c"]
    assert by_tick["step", 3] == ["a", "c"]
    tick_1 = next(b for b in plan.batches() if b.tick == 1)
    assert {c.module.name: c.sees for c in tick_1.calls} == {
        "a": frozenset(),
        "c": frozenset({"a"}),
    }


def test_sees_every_earlier_call_without_depends_on() -> None:
    """In serial mode a call sees the updates of every call before it in its batch."""
    plan = Plan(scenario([spec("a", 3), spec("b", 2), spec("c", 1)], final_tick=1))
    assert not plan.dependency_mode
    for batch in plan.batches():
        assert [(c.module.name, c.sees) for c in batch.calls] == [
            ("a", frozenset()),
            ("b", frozenset({"a"})),
            ("c", frozenset({"a", "b"})),
        ]


def test_sees_only_ancestors_with_depends_on() -> None:
    """In dependency mode a call sees only its ancestors' updates, not independent modules'."""
    modules = [
        spec("a", 3),
        spec("b", 1, depends_on=["a"]),
        spec("c", 2, depends_on=[]),
        spec("d", 0, depends_on=["b"]),
    ]
    plan = Plan(scenario(modules, final_tick=1))
    assert plan.dependency_mode
    for batch in plan.batches():
        assert [(c.module.name, c.sees) for c in batch.calls] == [
            ("a", frozenset()),
            ("c", frozenset()),
            ("b", frozenset({"a"})),
            ("d", frozenset({"a", "b"})),
        ]


def test_empty_depends_on_turns_on_dependency_mode() -> None:
    """An empty dependsOn list means "depends on nothing" and makes every call independent."""
    plan = Plan(scenario([spec("a", 2, depends_on=[]), spec("b", 1)], final_tick=1))
    assert plan.dependency_mode
    for batch in plan.batches():
        assert [(c.module.name, c.sees) for c in batch.calls] == [
            ("a", frozenset()),
            ("b", frozenset()),
        ]


def test_call_count_matches_calls_yielded() -> None:
    """call_count equals the number of calls the plan yields."""
    modules = [
        spec("a", 1, start_tick=3, end_tick=17, tick_increment=4),
        spec("b", 2, tick_increment=0),
        spec("c", 3, start_tick=-5, tick_increment=7),
        spec("d", 4, start_tick=40),
        spec("e", 5, end_tick=-2),
    ]
    plan = Plan(scenario(modules, final_tick=30))
    assert plan.call_count == sum(len(b.calls) for b in plan.batches())
    assert plan.call_count == 10 + 4 + 4  # start+end of 5 modules; a: 3 7 11 15; c: 2 9 16 23


def test_a_million_ticks_cost_only_the_due_calls() -> None:
    """A 1,000,000-tick run with a module every 100,000 ticks yields 10 step batches."""
    modules = [spec("rare", 1, tick_increment=100_000), spec("edges", 2, tick_increment=0)]
    plan = Plan(scenario(modules, final_tick=1_000_000))
    step_batches = [b for b in plan.batches() if b.mode is Mode.STEP]
    assert [b.tick for b in step_batches] == list(range(0, 1_000_000, 100_000))
    assert step_batches[-1].calls[0].target_tick == 1_000_000
    assert plan.call_count == 14


# -- properties ----------------------------------------------------------------------------

PRIORITIES = st.one_of(st.integers(-20, 20).map(float), st.sampled_from([math.inf, -math.inf]))


@st.composite
def module_sets(draw: Any) -> tuple[list[dict[str, Any]], int, int]:
    """Raw module fields (name, priority, ticks, dependsOn) plus initial and final tick."""
    initial_tick = draw(st.integers(-3, 3))
    final_tick = initial_tick + draw(st.integers(0, 14))
    count = draw(st.integers(1, 6))
    names = [f"m{i}" for i in range(count)]
    priorities = draw(st.lists(PRIORITIES, min_size=count, max_size=count, unique=True))
    topological = draw(st.permutations(names))
    dependency_mode = draw(st.booleans())
    fields = []
    for name, priority in zip(names, priorities, strict=True):
        depends_on = None
        if dependency_mode and draw(st.booleans()):
            earlier = topological[: topological.index(name)]
            depends_on = draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else []
        start_tick = draw(st.none() | st.integers(initial_tick - 4, final_tick + 2))
        lowest_end = initial_tick - 2 if start_tick is None else max(initial_tick - 2, start_tick)
        fields.append(
            {
                "name": name,
                "priority": priority,
                "start_tick": start_tick,  # endTick before startTick is a scenario error
                "end_tick": draw(st.none() | st.integers(lowest_end, final_tick + 3)),
                "tick_increment": draw(st.integers(0, 4)),
                "depends_on": depends_on,
            }
        )
    return fields, initial_tick, final_tick


def build(fields: list[dict[str, Any]], initial_tick: int, final_tick: int) -> Plan:
    modules = [spec(**f) for f in fields]
    return Plan(scenario(modules, initial_tick=initial_tick, final_tick=final_tick))


def ancestors(fields: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Transitive dependsOn closure, computed independently of the planner."""
    direct = {f["name"]: set(f["depends_on"] or ()) for f in fields}
    result: dict[str, set[str]] = {}

    def visit(name: str) -> set[str]:
        if name not in result:
            found: set[str] = set()
            for parent in direct[name]:
                found |= {parent, *visit(parent)}
            result[name] = found
        return result[name]

    for name in direct:
        visit(name)
    return result


@settings(max_examples=200, deadline=None)
@given(module_sets())
def test_every_due_call_planned_exactly_once(case: tuple[list[dict[str, Any]], int, int]) -> None:
    """Each start, due step and end call appears exactly once, with the right target tick."""
    fields, initial_tick, final_tick = case
    plan = build(fields, initial_tick, final_tick)
    expected: Counter[tuple[str, str, int, int | None]] = Counter()
    for f in fields:
        expected[f["name"], "start", initial_tick, None] += 1
        expected[f["name"], "end", final_tick, None] += 1
        start = initial_tick if f["start_tick"] is None else f["start_tick"]
        end = final_tick if f["end_tick"] is None else min(f["end_tick"], final_tick)
        step = f["tick_increment"]
        for tick in range(initial_tick, final_tick):
            if step and tick >= start and (tick - start) % step == 0 and tick < end:
                expected[f["name"], "step", tick, min(tick + step, end)] += 1
    planned: Counter[tuple[str, str, int, int | None]] = Counter()
    previous_tick = None
    for batch in plan.batches():
        if batch.mode is Mode.STEP:
            assert previous_tick is None or batch.tick > previous_tick
            previous_tick = batch.tick
        assert len({c.module.name for c in batch.calls}) == len(batch.calls)
        for call in batch.calls:
            assert call.mode is batch.mode and call.tick == batch.tick
            planned[call.module.name, call.mode.value, call.tick, call.target_tick] += 1
    assert planned == expected
    assert plan.call_count == sum(planned.values())


@settings(max_examples=200, deadline=None)
@given(module_sets())
def test_dependencies_and_priorities_respected(case: tuple[list[dict[str, Any]], int, int]) -> None:
    """In every batch ancestors run first, and each call is the highest-priority one free to run."""
    fields, initial_tick, final_tick = case
    plan = build(fields, initial_tick, final_tick)
    above = ancestors(fields)
    priority = {f["name"]: f["priority"] for f in fields}
    for batch in plan.batches():
        names = [c.module.name for c in batch.calls]
        if not plan.dependency_mode:
            assert names == sorted(names, key=lambda n: -priority[n])
            assert [c.sees for c in batch.calls] == [
                frozenset(names[:i]) for i in range(len(names))
            ]
            continue
        in_batch = set(names)
        placed: set[str] = set()
        for call in batch.calls:
            name = call.module.name
            assert above[name] & in_batch <= placed, "an ancestor ran later"
            free = [n for n in in_batch - placed if above[n] & in_batch <= placed]
            assert priority[name] == max(priority[n] for n in free)
            assert call.sees == frozenset(above[name] & in_batch)
            placed.add(name)


def schedule_document(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    entries = []
    for f in fields:
        entry: dict[str, Any] = {
            "name": f["name"],
            "command": OK,
            "tickIncrement": f["tick_increment"],
        }
        p = f["priority"]
        entry["priority"] = "Infinity" if p == math.inf else "-Infinity" if p == -math.inf else p
        if f["start_tick"] is not None:
            entry["startTick"] = f["start_tick"]
        if f["end_tick"] is not None:
            entry["endTick"] = f["end_tick"]
        if f["depends_on"] is not None:
            entry["dependsOn"] = f["depends_on"]
        entries.append(entry)
    return entries


def plan_signature(path: Path) -> list[Any]:
    plan = Plan(load_scenario(path))
    return [
        (b.mode.value, b.tick, [(c.module.name, c.target_tick, sorted(c.sees)) for c in b.calls])
        for b in plan.batches()
    ]


@settings(max_examples=100, deadline=None)
@given(module_sets(), st.randoms(use_true_random=False))
def test_plan_independent_of_schedule_order(
    case: tuple[list[dict[str, Any]], int, int], random: Any
) -> None:
    """Shuffling the modules in schedule.json does not change the plan."""
    fields, initial_tick, final_tick = case
    driver = {
        "initialTime": "2024-01-01T00:00:00",
        "endTime": f"PT{final_tick - initial_tick}H",
        "initialTick": initial_tick,
        "scheduleIntervals": [{"tickDuration": "PT1H"}],
    }
    entries = schedule_document(fields)
    shuffled = list(entries)
    random.shuffle(shuffled)
    with tempfile.TemporaryDirectory() as tmp:
        signatures = []
        for name, schedule in (("given", entries), ("shuffled", shuffled)):
            directory = Path(tmp) / name
            directory.mkdir()
            (directory / "driver.json").write_text(json.dumps(driver))
            (directory / "schedule.json").write_text(json.dumps({"schedule": schedule}))
            signatures.append(plan_signature(directory))
    assert signatures[0] == signatures[1]
    assert signatures[0][-1][1] == final_tick
