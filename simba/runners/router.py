"""Routes each call to the runner of its module's type."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from simba.runners.base import CallRequest, CallResult, Runner
from simba.scenario import ModuleType


class TypeRouter(Runner):
    """A runner made of one runner per module type."""

    def __init__(self, runners: Mapping[ModuleType, Runner]) -> None:
        self.runners = dict(runners)

    def start(self) -> None:
        for runner in self.runners.values():
            runner.start()

    def run(self, request: CallRequest) -> CallResult:
        return self.runners[request.module.type].run(request)

    def cancel(self) -> None:
        for runner in self.runners.values():
            runner.cancel()

    def shutdown(self) -> None:
        for runner in self.runners.values():
            runner.shutdown()


def default_runner(
    types: set[ModuleType], environment: Mapping[str, str], *, parsl_directory: Path
) -> Runner:
    """The runner for a scenario whose modules have ``types``.

    ``parsl_directory`` is where Parsl keeps its own files, if a module is of type parsl.
    With ``SIMBA_RUN_DIR`` in ``environment``, modules with a ``container`` run in it.
    """
    runner = _typed_runner(types, environment, parsl_directory=parsl_directory)
    run_dir = environment.get("SIMBA_RUN_DIR")
    if run_dir is None:
        return runner
    from simba.runners.container import ContainerRunner, Containers

    return ContainerRunner(runner, Containers(Path(run_dir), environment))


def _typed_runner(
    types: set[ModuleType], environment: Mapping[str, str], *, parsl_directory: Path
) -> Runner:
    from simba.runners.local import LocalRunner

    local = LocalRunner(environment=environment)
    if types <= {ModuleType.LOCAL}:
        return local
    runners: dict[ModuleType, Runner] = {ModuleType.LOCAL: local}
    if ModuleType.RESIDENT in types:
        from simba.runners.resident import ResidentRunner

        runners[ModuleType.RESIDENT] = ResidentRunner(local.module_environment)
    if ModuleType.PARSL in types:
        from simba.runners.parsl import ParslRunner  # imports no Parsl until the first call

        runners[ModuleType.PARSL] = ParslRunner(parsl_directory, environment=environment)
    return TypeRouter(runners)
