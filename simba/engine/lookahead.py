"""The look-ahead: what waits for the next call, done while that call's module runs.

Between two calls of a serial batch the engine does only what decides the next call:
read the status, merge it, start the next module.  Everything else waits in the
:class:`LookAhead` and is done while that module runs (the runner's ``meanwhile``),
when the driver would only wait: the events (and so the trace record), the checkpoint
boundary, and the next call's directory and config, written as they will be if the
running call changes nothing.  :class:`ConfigAhead` records what such a config took as
given, so that once the running call is judged one identity check tells whether the
document is still the next call's, and the file's identity as written, so that one
``lstat`` tells whether the running module removed, replaced or rewrote it (then it is
written again).  Events keep their order; everything pending is done before the run
ends.

:class:`CallDirectories` knows which call directory is in use and which were made
ahead of use, and whether this driver made them (the config rules depend on it).
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simba.engine.state import ModuleState
from simba.events import Event
from simba.jsonfile import write_json_new
from simba.plan import Call, Mode
from simba.runners.inline import document_text

if TYPE_CHECKING:
    from simba.engine.configs import CallConfig, ConfigWriter
    from simba.engine.rundir import RunDirectory


@dataclass(frozen=True, slots=True)
class Upcoming:
    """The call after the running one, for writing its config ahead."""

    call: Call
    time: datetime
    view: Mapping[str, Any] | None
    """Its commonData if the running call changes none."""
    module_state: ModuleState
    """Its module's state once the running call has run (if of the same module, it sets
    the last-run values)."""


@dataclass(frozen=True, slots=True)
class ConfigAhead:
    """A config written ahead, and what it took as given."""

    call: Call
    view: Mapping[str, Any] | None
    module_data: Mapping[str, Any] | None
    last_run: tuple[int | None, datetime | None]
    services: Mapping[str, Any] | None
    paths_and_config: CallConfig
    identity: FileIdentity
    """The file as written: a module that removes, replaces or rewrites it changes this."""
    text: str | None = None
    """An inline call's document as it will be sent (then no file was written)."""

    def holds(
        self,
        call: Call,
        view: Mapping[str, Any] | None,
        module_state: ModuleState,
        services: Mapping[str, Any] | None,
    ) -> bool:
        """Whether the config written ahead is ``call``'s (state is replaced, never mutated)
        and still on disk as written (one ``lstat``)."""
        return (
            call is self.call
            and view is self.view
            and module_state.module_data is self.module_data
            and (module_state.last_run_tick, module_state.last_run_time) == self.last_run
            and services is self.services
            and (self.text is not None or file_identity(self.paths_and_config[0]) == self.identity)
        )


#: A file's device, inode, size, modification and change times (``None``: no regular file).
FileIdentity = tuple[int, int, int, int, int] | None


def file_identity(path: Path) -> FileIdentity:
    """``path``'s identity (not following a symbolic link); ``None`` if it is no regular file.

    A file replaced gets another inode; one rewritten in place another size or change
    time (the kernel gives a file whose times were just read a finer timestamp at its
    next change, on file systems with multigrain timestamps).
    """
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class CallDirectories:
    """The call directory in use, those made ahead of use, and who made them."""

    def __init__(self, rundir: RunDirectory) -> None:
        self.rundir = rundir
        self._current: Path | None = None  # the directory used last (batches go in order)
        self.made_here = False
        """Whether this driver made the directory used last (no earlier run's files are in it)."""
        self.untouched = False
        """Whether it was made just now, so that no module can have written in it yet."""
        self._prepared: dict[Path, bool] = {}  # made ahead of use -> made by this driver

    def enter(self, call: Call) -> Path:
        """The directory of ``call``, created on first use (an inline call in a journal run
        needs none: no file of its own, its output kept in memory)."""
        path = self.rundir.call_dir(call)
        if self.rundir.in_memory(call):
            self.made_here = self.untouched = True  # nothing of an earlier driver to clear
            self._current = None
        elif path != self._current or self.rundir.journal:  # scale: a journal dir is reused
            made = self._prepared.pop(path, None)
            self.untouched = made is None and _make(path)
            self.made_here = self.untouched or bool(made)
            self._current = path
            if call.mode is Mode.START:
                self.rundir.link_start(path)
        return path

    def prepare(self, call: Call) -> bool:
        """Create the directory of an upcoming ``call`` now; whether this driver made it.

        Creating files is the costliest part of a call on many file systems; the
        engine has this done while the previous module runs (the runner calls it right
        after starting the process), which takes it off the critical path without a
        thread competing for the interpreter.
        """
        path = self.rundir.call_dir(call)
        if self.rundir.in_memory(call):
            return True
        if path == self._current:
            return self.made_here
        made = self._prepared.get(path)
        if made is None:
            made = self._prepared[path] = _make(path)
        return made

    def close(self) -> None:
        """Undo what was prepared but not used (no tick directory without a call).

        A directory is removed only if this driver made it and it is empty (the
        look-ahead removes the config it wrote ahead first); anything else is kept.
        """
        for path, made in self._prepared.items():
            if made:
                with contextlib.suppress(OSError):
                    path.rmdir()
        self._prepared.clear()


def _make(path: Path) -> bool:
    try:
        path.mkdir()
    except FileExistsError:
        return False
    return True


class LookAhead:
    """Work deferred until the next call has started, and the next call's config ahead."""

    def __init__(
        self, emit: Callable[[Event], None], directories: CallDirectories, configs: ConfigWriter
    ) -> None:
        self._emit = emit
        self.directories = directories
        self._configs = configs
        self._deferring = False
        """Serial batches: events wait in ``_pending`` until the next call has started."""
        self._pending: deque[Callable[[], None]] = deque()
        self._error: BaseException | None = None
        self._ahead: ConfigAhead | None = None
        """The upcoming call's config as written ahead, while the previous call ran."""
        self._meanwhile: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._taken: tuple[CallConfig, str] | None = None
        """The last inline config taken from ahead, with its text."""

    # -- deferred work ----------------------------------------------------------------

    def post(self, event: Event) -> None:
        """Emit ``event``: at once, or in a serial batch once the next call has started."""
        if self._deferring:
            self._pending.append(lambda: self._emit(event))
        else:
            self._emit(event)

    def post_made(self, make: Callable[[], Event]) -> None:
        """Emit the event ``make()`` gives, made only when it is emitted (see :meth:`post`)."""
        if self._deferring:
            self._pending.append(lambda: self._emit(make()))
        else:
            self._emit(make())

    def later(self, work: Callable[[], None]) -> None:
        """Do ``work`` now, or in a serial batch once the next call has started."""
        self._pending.append(work)
        if not self._deferring:
            self.catch_up()

    def catch_up(self) -> None:
        """Do the pending work in order (what raises leaves the rest pending)."""
        pending = self._pending
        while pending:
            pending.popleft()()

    # -- a batch and its calls ----------------------------------------------------------

    def serial(self, deferring: bool) -> None:
        """A batch begins: serial (work waits for the next call) or concurrent (it does not)."""
        self._deferring = deferring

    def write_ahead(self, upcoming: Callable[[], Upcoming | None]) -> None:
        """While the next call runs: catch up, then write the config of ``upcoming()``."""
        self._meanwhile = self._overlap(upcoming)

    def prepare_ahead(self, call: Call | None) -> None:
        """While the next calls run: make ``call``'s directory ready."""
        self._meanwhile = None if call is None else self._preparer(call)

    def take_meanwhile(self) -> Callable[[], None] | None:
        """The work for the runner to do while the call it starts runs (once)."""
        with self._lock:
            meanwhile, self._meanwhile = self._meanwhile, None
        return meanwhile

    def settle(self) -> None:
        """After a call: finish what waited for it; raise what failed meanwhile."""
        if self._deferring:
            self.catch_up()  # if the runner had no use for meanwhile
            failed, self._error = self._error, None
            if failed is not None:
                raise failed

    def take_config(
        self,
        call: Call,
        view: Mapping[str, Any] | None,
        module_state: ModuleState,
        services: Mapping[str, Any] | None,
    ) -> CallConfig | None:
        """``call``'s config if the one written ahead still holds (it is in place then)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead.holds(call, view, module_state, services):
            if ahead.text is not None:
                self._taken = (ahead.paths_and_config, ahead.text)
            return ahead.paths_and_config
        return None

    def text_of(self, config: CallConfig) -> str | None:
        """The text of an inline ``config`` taken from ahead (``None``: encode it now)."""
        taken, self._taken = self._taken, None
        return taken[1] if taken is not None and taken[0] is config else None

    def finish(self) -> None:
        """The run ends: no more waiting, everything pending done."""
        self._deferring = False
        self.catch_up()

    def close(self) -> None:
        """Remove the config written for a call that never came, and unused directories."""
        if self._ahead is not None and self._ahead.text is None:
            with contextlib.suppress(OSError):
                self._ahead.paths_and_config[0].unlink()
        self.directories.close()

    # -- the runner's meanwhile ---------------------------------------------------------

    def _overlap(self, upcoming: Callable[[], Upcoming | None]) -> Callable[[], None]:
        def meanwhile() -> None:
            try:
                self.catch_up()
                following = upcoming()
                if following is not None:
                    with contextlib.suppress(OSError):  # then the call writes it, or says why
                        self._speculate(following)
            except BaseException as exc:  # raised once the call has ended (see settle)
                self._error = exc

        return meanwhile

    def _speculate(self, upcoming: Upcoming) -> None:
        """Write ``upcoming``'s config as it will be if the running call changes nothing.

        If the call's status changes what it took as given, the config is written
        again; if not, the next module starts at once.
        """
        call = upcoming.call
        inline = call.module.protocol == "inline"  # scale: its config goes inline, no file
        if not self.directories.prepare(call) and not inline:
            return  # a directory of an earlier driver: leave its files alone
        module_state = upcoming.module_state
        config = self._configs.build(
            call, self.directories.rundir.call_dir(call), upcoming.time, upcoming.view, module_state
        )
        text = document_text(config[2]) if inline else None
        if text is None:
            write_json_new(config[0], config[2])
        identity = None if inline else file_identity(config[0])
        if identity is None and not inline:
            return  # gone already: the call writes it
        self._ahead = ConfigAhead(
            call,
            upcoming.view,
            module_state.module_data,
            (module_state.last_run_tick, module_state.last_run_time),
            self._configs.services.documents,
            config,
            identity,
            text,
        )

    def _preparer(self, call: Call) -> Callable[[], None]:
        def prepare() -> None:
            with contextlib.suppress(OSError):  # then enter() makes it, or says why
                self.directories.prepare(call)

        return prepare
