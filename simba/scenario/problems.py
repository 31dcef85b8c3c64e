"""Collect every problem of a scenario, then raise them once as one ScenarioError."""

from __future__ import annotations

from pathlib import Path

from simba.errors import Problem, ScenarioError


class Problems:
    """The problems found so far while checking a scenario's files."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def __len__(self) -> int:
        return len(self.found)

    def add(self, file: Path | str, where: str, message: str) -> None:
        self.found.append(Problem(str(file), where, message))

    def extend(self, problems: list[Problem]) -> None:
        self.found += problems

    def raise_if_any(self) -> None:
        if self.found:
            raise ScenarioError(self.found)
