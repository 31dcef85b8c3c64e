"""A comparison written out: lines for a terminal, a JSON document, Markdown for a PR.

Values are shown as compact JSON, cut at :data:`WIDTH` characters; a key a side lacks
is ``(not set)``.  Times per module are shown beside the verdict, never as part of it.
"""

from __future__ import annotations

import json
from typing import Any

from simba.compare.diff import Comparison, KeyDifference, RunComparison, Timing
from simba.compare.history import MISSING

#: The longest value shown (in characters) before it is cut with "...".
WIDTH = 40
#: The most differing keys listed per run (the JSON document lists them all).
SHOWN = 20


def value_text(value: Any) -> str:
    if value is MISSING:
        return "(not set)"
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= WIDTH else text[: WIDTH - 3] + "..."


def verdict(comparison: Comparison) -> str:
    differing = [run for run in comparison.runs if not run.equal]
    if not differing:
        return "equal within tolerance"
    if len(comparison.runs) == 1 and not comparison.runs[0].cell:
        return "different"
    cells = ", ".join(run.cell for run in differing)
    return f"different in {len(differing)} of {len(comparison.runs)} cells: {cells}"


def difference_text(difference: KeyDifference) -> str:
    """One differing key in words: where it first differs, by how much, and finally."""
    text = (
        f"{difference.name}: first differs at tick {difference.tick} ({difference.time}): "
        f"{value_text(difference.a)} vs {value_text(difference.b)}"
    )
    if difference.points > 1:
        text += f"; differs at {difference.points} points"
    if (difference.final_a, difference.final_b) != (difference.a, difference.b):
        text += f"; final {value_text(difference.final_a)} vs {value_text(difference.final_b)}"
    return text + f" (tolerance: {difference.tolerance.describe()})"


def run_problems(run: RunComparison) -> list[str]:
    """Why a run differs, one sentence each (none when it is equal)."""
    if run.a is None or run.b is None:
        return [f"only {'B' if run.a is None else 'A'} has this run ({run.b or run.a})"]
    assert run.calls is not None
    problems = []
    if run.calls.outcome_a != run.calls.outcome_b:
        problems.append(f"outcome: A {run.calls.outcome_a}, B {run.calls.outcome_b}")
    if run.calls.difference:
        problems.append(f"calls: {run.calls.difference}")
    for group in run.groups:
        problems += [difference_text(d) for d in group.differences]
    return problems


def text_lines(comparison: Comparison) -> list[str]:
    lines = [f"compare {comparison.a} (A) with {comparison.b} (B): {verdict(comparison)}"]
    for run in comparison.runs:
        indent = "  "
        if run.cell:
            lines.append(f"cell {run.cell}: {'equal' if run.equal else 'different'}")
            indent = "    "
        if run.calls is not None:
            keys = sum(group.keys for group in run.groups)
            lines.append(
                f"{indent}{run.calls.calls_a} and {run.calls.calls_b} calls, "
                f"{keys} keys in {len(run.groups)} groups compared"
            )
        problems = run_problems(run)
        lines += [indent + problem for problem in problems[:SHOWN]]
        if len(problems) > SHOWN:
            lines.append(f"{indent}... and {len(problems) - SHOWN} more (see --json)")
        if run.timing and not run.cell:
            lines.append(f"{indent}time per module (for information only):")
            lines += [indent + "  " + timing_text(t) for t in run.timing]
    return lines


def timing_text(timing: Timing) -> str:
    def seconds(side: Any) -> str:
        return "-" if side is None else f"{side.wall_time:.3f} s"

    text = f"{timing.module}: wall {seconds(timing.a)} and {seconds(timing.b)}"
    if timing.a and timing.b and timing.a.wall_time > 0:
        text += f" (x{timing.b.wall_time / timing.a.wall_time:.2f})"
    return text


def markdown(comparison: Comparison) -> str:
    """A Markdown comment for a pull request: the verdict, then a table of differences."""
    mark = "✅" if comparison.equal else "❌"
    lines = [
        f"### {mark} simba compare: {verdict(comparison)}",
        "",
        f"A: `{comparison.a}`, B: `{comparison.b}`",
        "",
    ]
    rows = [(run.cell or "-", problem) for run in comparison.runs for problem in run_problems(run)]
    if rows:
        lines += ["| cell | difference |", "| --- | --- |"]
        lines += [f"| {cell} | {_cell(problem)} |" for cell, problem in rows]
        lines.append("")
    timing = [(run.cell or "-", t) for run in comparison.runs for t in run.timing]
    if timing:
        lines += [
            "<details><summary>Time per module (for information only)</summary>",
            "",
            "| cell | module | wall A (s) | wall B (s) |",
            "| --- | --- | ---: | ---: |",
        ]
        lines += [
            f"| {cell} | {t.module} | {_seconds(t.a)} | {_seconds(t.b)} |" for cell, t in timing
        ]
        lines += ["", "</details>", ""]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _seconds(side: Any) -> str:
    return "-" if side is None else f"{side.wall_time:.3f}"


def to_json(comparison: Comparison) -> dict[str, Any]:
    return {
        "equal": comparison.equal,
        "a": comparison.a,
        "b": comparison.b,
        "runs": [_run_json(run) for run in comparison.runs],
    }


def _run_json(run: RunComparison) -> dict[str, Any]:
    calls = run.calls
    return {
        "cell": run.cell or None,
        "equal": run.equal,
        "a": run.a,
        "b": run.b,
        "outcome": None if calls is None else {"a": calls.outcome_a, "b": calls.outcome_b},
        "calls": None
        if calls is None
        else {"a": calls.calls_a, "b": calls.calls_b, "difference": calls.difference},
        "groups": [
            {
                "name": group.name,
                "keys": group.keys,
                "equal": group.equal,
                "differences": [_difference_json(d) for d in group.differences],
            }
            for group in run.groups
        ],
        "timing": [
            {
                "module": t.module,
                "wallTime": {"a": _wall(t.a), "b": _wall(t.b)},
                "cpuTime": {"a": _cpu(t.a), "b": _cpu(t.b)},
            }
            for t in run.timing
        ],
    }


def _difference_json(d: KeyDifference) -> dict[str, Any]:
    return {
        "key": d.name,
        "firstTick": d.tick,
        "firstTime": d.time,
        "a": _plain(d.a),
        "b": _plain(d.b),
        "points": d.points,
        "finalA": _plain(d.final_a),
        "finalB": _plain(d.final_b),
        "tolerance": {"absolute": d.tolerance.absolute, "relative": d.tolerance.relative},
    }


def _plain(value: Any) -> Any:
    return None if value is MISSING else value


def _wall(side: Any) -> float | None:
    return None if side is None else round(side.wall_time, 6)


def _cpu(side: Any) -> float | None:
    return None if side is None or side.cpu_time is None else round(side.cpu_time, 6)
