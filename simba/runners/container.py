"""Modules in containers (DESIGN §15): any runner's calls, run through a container engine.

:class:`ContainerRunner` wraps the runner of the module types: a call of a module with a
``container`` reaches the inner runner with its argv replaced by the engine command line
(:mod:`simba.containers.argv`), so process groups, streamed output, timeouts and
cancellation stay the inner runner's.  What only an engine can do is done here:

- the container starts from the image digest the run recorded at its start
  (``.simba/images.json``), never from a tag that may have moved;
- a call that did not end cleanly (timeout, cancellation, signal, failure) has its
  container stopped and removed through the engine (``rm --force``), since killing the
  engine's client does not always stop the container;
- before an engine's first call of a run, and at shutdown, every container labelled
  with the run directory is removed: what a SIGKILLed driver left behind is gone
  before its successor runs a call;
- a ``resident`` module's container is started once and kept for the run (a new one
  after a crash);
- a ``service`` gets its command line from :func:`service_command` (the service host
  starts it like any service).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from simba.containers import engines
from simba.containers.argv import Invocation, command_line, container_name
from simba.containers.pinning import recorded
from simba.containers.spec import Container, Engine
from simba.runners.base import CallRequest, CallResult, Runner
from simba.scenario import ModuleSpec, ModuleType

#: Variables SIMBA sets for a module; passed into its container by name (with the
#: module's own ``env``), so their values never appear on a command line.
SIMBA_VARIABLES = (
    "SIMBA_RUN_DIR",
    "SIMBA_MODULE_MODE",
    "STATE_ROOT",
    "CACHE_ROOT",
    "ROOT_DIR",
    "SIMBA_SERVICE_PORT",
    "SIMBA_SERVICE_KEY_FILE",
)


class Containers:
    """The engine command lines of one run, and the containers it started."""

    def __init__(self, run_dir: Path, environment: Mapping[str, str] | None = None) -> None:
        self.run_dir = run_dir
        self.environment = dict(environment or {})
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._engines: dict[Engine, str] = {}
        self._images: dict[str, dict[str, str]] | None = None

    def program(self, engine: Engine) -> str:
        """The engine's executable; at its first use, the run's leftovers are removed."""
        with self._lock:
            found = self._engines.get(engine)
            if found is None:
                located = engines.find_engine(engine)
                found = located[1] if located is not None else engine.value
                engines.remove_run(engine, found, self.run_dir)
                self._engines[engine] = found
            return found

    def image(self, module: ModuleSpec, container: Container) -> str:
        """The digest recorded for the module at run start (OCI engines), else its image."""
        if self._images is None:
            self._images = recorded(self.run_dir / ".simba")
        digest = self._images.get(module.name, {}).get("digest")
        return digest if digest and container.engine.oci else container.image

    def wrap(
        self, module: ModuleSpec, *, service_port: int | None = None
    ) -> tuple[ModuleSpec, str]:
        """``module`` with its argv replaced by the engine command line, and the
        container's name."""
        container = module.container
        assert container is not None
        name = container_name(self.run_dir, module.name, next(self._numbers))
        keys = (*self.environment, *SIMBA_VARIABLES, *module.env)
        call = Invocation(
            program=self.program(container.engine),
            image=self.image(module, container),
            name=name,
            run_dir=self.run_dir,
            working_directory=module.working_directory,
            env_keys=tuple(dict.fromkeys(keys)),
            uid=os.getuid(),
            gid=os.getgid(),
            rootless=engines.rootless(container.engine),
            interactive=module.type is ModuleType.RESIDENT,
            service_port=service_port,
            limits=engines.limits() if container.engine.oci else (),
        )
        argv = tuple(command_line(container, call, module.argv))
        return dataclasses.replace(module, argv=argv), name

    def stop(self, module: ModuleSpec, name: str) -> None:
        """Stop and remove one container now."""
        assert module.container is not None
        engine = module.container.engine
        engines.remove(engine, self.program(engine), [name])

    def remove_all(self) -> None:
        """Stop and remove every container of the run, on every engine it used."""
        with self._lock:
            used = dict(self._engines)
        for engine, program in used.items():
            engines.remove_run(engine, program, self.run_dir)


class ContainerRunner(Runner):
    """``inner``, with the calls of modules that have a ``container`` run in it."""

    def __init__(self, inner: Runner, containers: Containers) -> None:
        self.inner = inner
        self.containers = containers
        self._resident: dict[str, tuple[ModuleSpec, str]] = {}

    def start(self) -> None:
        self.inner.start()

    def run(self, request: CallRequest) -> CallResult:
        module = request.module
        if module.container is None:
            return self.inner.run(request)
        if module.type is ModuleType.RESIDENT:
            wrapped, name = self._resident.get(module.name) or self.containers.wrap(module)
            self._resident[module.name] = (wrapped, name)
        else:
            wrapped, name = self.containers.wrap(module)
        result = self.inner.run(dataclasses.replace(request, module=wrapped))
        if result.exit_code != 0 or result.timed_out or result.cancelled:
            self.containers.stop(module, name)
            self._resident.pop(module.name, None)
        return result

    def cancel(self) -> None:
        self.inner.cancel()

    def shutdown(self) -> None:
        try:
            self.inner.shutdown()
        finally:
            self.containers.remove_all()


def service_command(
    spec: ModuleSpec, environment: Mapping[str, str]
) -> tuple[tuple[str, ...], dict[str, str], Callable[[], None]]:
    """A service's engine command line, its environment and how to remove its container.

    SIMBA picks a free port; the service listens on it on every interface of its
    container (``SIMBA_SERVICE_PORT``) and the engine publishes it on the host's
    127.0.0.1 only.  The container is hardened (all capabilities dropped,
    no-new-privileges).
    """
    run_dir = Path(environment.get("SIMBA_RUN_DIR") or spec.working_directory)
    port = free_port()
    environment = {**environment, "SIMBA_SERVICE_PORT": str(port)}
    containers = Containers(run_dir)
    wrapped, name = containers.wrap(spec, service_port=port)
    return wrapped.argv, environment, lambda: containers.stop(spec, name)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
