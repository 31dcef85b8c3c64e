"""Which calls are due, and in which order (DESIGN §4).  No I/O; the only networkx user.

A module steps at ticks ``s, s+m, s+2m, …`` while the tick is below
``min(endTick, final tick)``.  Among the modules due at one tick, the order is a
topological order of the ``dependsOn`` graph (edges kept transitively through modules
not due at that tick) with ties broken by priority, higher first.  Without any
``dependsOn`` that is simply priority order.

Each :class:`Call` also carries ``sees``: the calls earlier in its batch whose
commonData updates its config must include.  In serial mode that is every earlier
call; in dependency mode only its ancestors, so that running independent calls
concurrently cannot change any config document.

Cost grows with calls, not ticks: due ticks come from a heap of arithmetic
progressions, and the order of a given set of due modules is computed once.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum

from simba.scenario import ModuleSpec, Scenario


class Mode(str, Enum):
    START = "start"
    STEP = "step"
    END = "end"


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One module call: the module, its mode, its ticks, and whose updates it sees."""

    module: ModuleSpec
    mode: Mode
    tick: int
    target_tick: int | None
    sees: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """The calls of one phase at one tick, in serial order."""

    mode: Mode
    tick: int
    calls: tuple[Call, ...]


class Plan:
    """The calls of a scenario, batch by batch; cheap to create, lazy to iterate."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.timeline = scenario.timeline
        self.initial_tick = scenario.timeline.initial_tick
        self.final_tick = scenario.timeline.final_tick
        self.dependency_mode = scenario.dependency_mode
        self._ancestors = _ancestors(scenario.modules) if self.dependency_mode else {}
        self._orders: dict[frozenset[str], tuple[tuple[ModuleSpec, frozenset[str]], ...]] = {}

    # -- per module ----------------------------------------------------------------------

    def limit(self, module: ModuleSpec) -> int:
        """Steps happen at ticks strictly below this one."""
        end = module.end_tick if module.end_tick is not None else self.final_tick
        return min(end, self.final_tick)

    def first_step(self, module: ModuleSpec) -> int | None:
        """The first tick at which ``module`` steps, or ``None``."""
        step = module.tick_increment
        if step == 0:
            return None
        first = module.start_tick if module.start_tick is not None else self.initial_tick
        if first < self.initial_tick:
            first += math.ceil((self.initial_tick - first) / step) * step
        return first if first < self.limit(module) else None

    def step_count(self, module: ModuleSpec) -> int:
        first = self.first_step(module)
        if first is None:
            return 0
        return math.ceil((self.limit(module) - first) / module.tick_increment)

    def target_tick(self, module: ModuleSpec, tick: int) -> int:
        return min(tick + module.tick_increment, self.limit(module))

    @property
    def call_count(self) -> int:
        modules = self.scenario.modules
        return 2 * len(modules) + sum(self.step_count(module) for module in modules)

    # -- batches -------------------------------------------------------------------------

    def batches(
        self, *, first_tick: int | None = None, last_tick: int | None = None
    ) -> Iterator[Batch]:
        """Start batch, step batches at due ticks, end batch; optionally only steps in a range."""
        everyone = frozenset(module.name for module in self.scenario.modules)
        if first_tick is None and last_tick is None:
            yield self._batch(Mode.START, self.initial_tick, everyone)
        for tick, names in self.due_ticks(first_tick):
            if last_tick is not None and tick > last_tick:
                break
            yield self._batch(Mode.STEP, tick, names)
        if first_tick is None and last_tick is None:
            yield self._batch(Mode.END, self.final_tick, everyone)

    def batches_from(self, mode: str, tick: int) -> Iterator[Batch]:
        """Every batch from the one of ``mode`` at ``tick`` on (``done``: none)."""
        everyone = frozenset(module.name for module in self.scenario.modules)
        if mode == Mode.START.value:
            yield from self.batches()
            return
        if mode == Mode.STEP.value:
            for due_tick, names in self.due_ticks(tick):
                yield self._batch(Mode.STEP, due_tick, names)
        if mode in (Mode.STEP.value, Mode.END.value):
            yield self._batch(Mode.END, self.final_tick, everyone)

    def due_ticks(self, from_tick: int | None = None) -> Iterator[tuple[int, frozenset[str]]]:
        """(tick, names of the modules due) for every tick at which any module steps."""
        heap: list[tuple[int, int]] = []
        for position, module in enumerate(self.scenario.modules):
            first = self.first_step(module)
            if first is None:
                continue
            if from_tick is not None and first < from_tick:
                first += (
                    math.ceil((from_tick - first) / module.tick_increment) * module.tick_increment
                )
                if first >= self.limit(module):
                    continue
            heap.append((first, position))
        heapq.heapify(heap)
        modules = self.scenario.modules
        while heap:
            tick = heap[0][0]
            names = []
            while heap and heap[0][0] == tick:
                _, position = heapq.heappop(heap)
                module = modules[position]
                names.append(module.name)
                following = tick + module.tick_increment
                if following < self.limit(module):
                    heapq.heappush(heap, (following, position))
            yield tick, frozenset(names)

    def _batch(self, mode: Mode, tick: int, names: frozenset[str]) -> Batch:
        calls = tuple(
            Call(
                module=module,
                mode=mode,
                tick=tick,
                target_tick=self.target_tick(module, tick) if mode is Mode.STEP else None,
                sees=sees,
            )
            for module, sees in self.order(names)
        )
        return Batch(mode=mode, tick=tick, calls=calls)

    def order(self, names: frozenset[str]) -> tuple[tuple[ModuleSpec, frozenset[str]], ...]:
        """Modules ``names`` in serial order, each with the names whose updates it sees."""
        cached = self._orders.get(names)
        if cached is None:
            cached = self._orders[names] = _order(self, names)
        return cached


def _order(plan: Plan, names: frozenset[str]) -> tuple[tuple[ModuleSpec, frozenset[str]], ...]:
    modules = [module for module in plan.scenario.modules if module.name in names]
    if not plan.dependency_mode:
        modules.sort(key=lambda module: -module.priority)
        return tuple(
            (module, frozenset(m.name for m in modules[:i])) for i, module in enumerate(modules)
        )
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(module.name for module in modules)
    for module in modules:
        graph.add_edges_from((a, module.name) for a in plan._ancestors[module.name] if a in names)
    by_name = {module.name: module for module in modules}
    ordered = nx.lexicographical_topological_sort(graph, key=lambda name: -by_name[name].priority)
    return tuple((by_name[name], frozenset(plan._ancestors[name] & names)) for name in ordered)


def _ancestors(modules: Iterable[ModuleSpec]) -> dict[str, frozenset[str]]:
    import networkx as nx

    graph = nx.DiGraph()
    for module in modules:
        graph.add_node(module.name)
        graph.add_edges_from((dependency, module.name) for dependency in module.depends_on or ())
    return {name: frozenset(nx.ancestors(graph, name)) for name in graph}
