"""The run directory (DESIGN §7): every path SIMBA writes is computed here.

::

    <outputDirectory>/<runId>[/<cellId>]/
        <initialTick>/          start calls (and steps at initialTick - 1, if any)
        start -> <initialTick>  relative symlink
        <k+1>/                  step calls at tick k
        end/                    end calls
        modules/<name>/         a service's module.log (+ module.log.1), state/, cache/
                                call/: the fixed call files of the journal layout
                                state/ cache/ data/ (0700) log/: module_dirs(); made at
                                run start for modules whose command or env names them
        .simba/                 trace.jsonl, summary.json, checkpoint.json

In a call's directory: ``module_<i>.json`` (config), ``status_<i>.json``,
``stdout_<i>``, ``stderr_<i>`` (a retry's output gets ``.<attempt>``), with ``<i>`` the
module's 1-based schedule position, zero-padded to the digits of the module count.
Directories are made only when a call is written into them.  In the ``journal``
layout (:mod:`simba.engine.layout`) there are no tick directories: a call's files are
those of ``modules/<name>/call/``, and its documents are recorded in ``.simba/run.db``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simba.engine import layout as layouts
from simba.errors import RunDirectoryError
from simba.jsonfile import write_json
from simba.plan import Call, Mode
from simba.record.rows import CallDocuments
from simba.scenario.timeline import Timeline

if TYPE_CHECKING:
    from simba.engine.options import RunOptions
    from simba.runners.base import CallResult
    from simba.scenario import ModuleSpec, Scenario

META = ".simba"


@dataclass(frozen=True, slots=True)
class RunFiles:
    """The paths of a run's own records, under ``<run>/.simba/``: the one place they are named."""

    root: Path

    @property
    def meta(self) -> Path:
        return self.root / META

    @property
    def run_info(self) -> Path:
        """``run.json``: the scenario's path and fingerprint, for ``--resume``."""
        return self.meta / "run.json"

    @property
    def checkpoint(self) -> Path:
        return self.meta / "checkpoint.json"

    @property
    def trace(self) -> Path:
        return self.meta / "trace.jsonl"

    @property
    def summary(self) -> Path:
        return self.meta / "summary.json"

    @property
    def lock(self) -> Path:
        return self.meta / "lock"

    @property
    def parsl(self) -> Path:
        """Parsl's own run directory (its logs, the interchange's files)."""
        return self.meta / "parsl"


def make_way(
    directory: Path,
    *,
    marker: Path,
    kind: str,
    overwrite: bool,
    hold: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
    remove: Callable[[Path], object] = shutil.rmtree,
) -> None:
    """Clear the place of a new run or sweep directory, or say why not.

    Nothing there: nothing to do.  Something there: refused unless ``overwrite``, and
    even then unless it holds ``marker`` (the ``.simba/`` or ``.sweep/`` that SIMBA
    makes), so that SIMBA never deletes a directory it did not make; a symbolic link is
    refused too, so that nothing outside the output directory is deleted through it.
    The deletion, ``remove(directory)``, happens inside ``hold()`` (the directory's lock).
    """
    if not (directory.exists() or directory.is_symlink()):
        return
    if not overwrite:
        raise RunDirectoryError(
            f"the {kind} directory {directory} already exists; choose another runId "
            "(--run-id), continue it with --resume, or pass --overwrite to replace it"
        )
    if directory.is_symlink():
        raise RunDirectoryError(
            f"{directory} is a symbolic link (to {directory.readlink()}); --overwrite "
            f"does not delete through links: remove the link (and, if you mean it, the {kind} "
            "it points to) yourself, or choose another runId"
        )
    if not marker.is_dir():
        if not directory.exists():
            return  # another driver moved it away meanwhile
        raise RunDirectoryError(
            f"{directory} exists but is not a SIMBA {kind} directory (it has no "
            f"{marker.name}/); SIMBA will not delete it: move it away or choose another runId"
        )
    with hold():
        remove(directory)


def default_run_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + f".{os.getpid()}"


class RunDirectory:
    """Paths of one run, its creation and its lock (call directories: ``CallDirectories``)."""

    def __init__(
        self, root: Path, timeline: Timeline, module_count: int, layout: str = layouts.TICK
    ) -> None:
        self.root = root
        self.layout = layout
        """``tick`` or ``journal`` (:mod:`simba.engine.layout`)."""
        self.timeline = timeline
        self.files = files = RunFiles(root)
        self.meta = files.meta
        self.trace_file = files.trace
        self.summary_file = files.summary
        self.checkpoint_file = files.checkpoint
        self._width = len(str(module_count))
        self._call_dirs: list[tuple[Call, Path]] = []
        self._file_paths: dict[tuple[Path, int], tuple[Path, Path, tuple[Path, Path]]] = {}
        self._journal_dirs: dict[str, Path] = {}
        self._lock_fd: int | None = None
        self.run_info_file = files.run_info

    @classmethod
    def for_run(cls, root: Path, scenario: Scenario, options: RunOptions) -> RunDirectory:
        """The run directory of a run: the layout from ``--layout``, the scenario's
        ``runLayout``, or (resuming) the one the run was started with."""
        layout = options.layout or scenario.driver.run_layout
        marker = RunFiles(root).meta / layouts.LAYOUT_FILE
        if options.resume is not None or scenario.driver.continue_from_tick is not None:
            with contextlib.suppress(OSError):
                layout = marker.read_text(encoding="utf-8").strip()
        count = len(scenario.modules) + len(scenario.services)
        return cls(root, scenario.timeline, count, layout)

    @property
    def journal(self) -> bool:
        return self.layout == layouts.JOURNAL

    def in_memory(self, call: Call) -> bool:
        """Whether ``call`` has no files at all: an inline call in a journal run (its
        output is kept in memory and recorded, and written to the module's fixed output
        files only when it printed something)."""
        return self.journal and call.module.protocol == "inline"

    def documents_of(
        self,
        call: Call,
        documents: tuple[tuple[Path, Path, dict[str, Any]], str | None],
        which: tuple[int, int],
        result: CallResult,
        outputs: tuple[Path, Path],
    ) -> CallDocuments | None:
        """An attempt's documents in a journal run, or an inline call's in any (``which``:
        slot and attempt; ``documents``: the call's config and, if sent inline, its text);
        ``None`` where the call's files are its record."""
        config, text = documents
        inline = call.module.protocol == "inline"
        if not (self.journal or inline):
            return None
        slot, attempt = which
        status = result.status if inline else layouts.read_head(config[1])
        stdout, stderr = (
            (result.stdout, result.stderr)
            if result.stdout is not None and result.stderr is not None
            else (layouts.read_head(outputs[0]), layouts.read_head(outputs[1]))
        )
        return CallDocuments(
            module=call.module.name,
            mode=call.mode.value,
            tick=call.tick,
            attempt=attempt,
            slot=slot,
            config=layouts.config_text(config[2]) if text is None else text,
            status=status,
            stdout=stdout or b"",
            stderr=stderr or b"",
        )

    def clear_call(
        self, config: tuple[Path, Path, dict[str, Any]], index: int, attempt: int
    ) -> bool:
        """In a journal run, remove the module's fixed call files before an attempt; whether
        it did.  Files are made anew rather than replaced: on ext4 a rename over a file (or
        a truncation) flushes its data, about 1.5 ms each, where unlink and create do not."""
        if not self.journal:
            return False
        directory = config[0].parent
        for path in (config[0], config[1], *self.output_paths(directory, index, attempt)):
            path.unlink(missing_ok=True)
        return True

    @staticmethod
    def locate(output_directory: Path, run_id: str, cell_id: str | None) -> Path:
        root = output_directory / run_id
        return root / cell_id if cell_id else root

    # -- creating --------------------------------------------------------------------

    def create(self, info: Mapping[str, Any], *, overwrite: bool = False) -> None:
        """Make the run directory with ``info`` in ``.simba/run.json``, and lock it.

        The directory appears complete or not at all (it is built under a temporary
        name and renamed), so a driver killed at any moment leaves either nothing or a
        run that ``--resume`` accepts.  An existing one is replaced only if ``overwrite``.
        """
        make_way(self.root, marker=self.meta, kind="run", overwrite=overwrite, hold=self._held)
        building = self.root.with_name(f".{self.root.name}.creating-{os.getpid()}")
        try:
            (building / META).mkdir(parents=True)
            write_json(building / META / self.run_info_file.name, info)
            if self.journal:
                (building / META / layouts.LAYOUT_FILE).write_text(self.layout, encoding="utf-8")
            building.rename(self.root)
        except OSError as exc:
            shutil.rmtree(building, ignore_errors=True)
            if self.root.exists():
                raise RunDirectoryError(
                    f"the run directory {self.root} was just created by another process; "
                    "choose another runId"
                ) from exc
            raise RunDirectoryError(
                f"cannot create the run directory {self.root}: {exc.strerror}; "
                "check outputDirectory and its permissions"
            ) from exc
        self.lock()

    def open_existing(self) -> None:
        """Use an existing run directory (resume, continuation) and lock it."""
        if not self.meta.is_dir():
            raise RunDirectoryError(
                f"{self.root} is not a SIMBA run directory (it has no {META}/); "
                "give the directory of an earlier run"
            )
        self.lock()

    def lock(self) -> None:
        """Hold an exclusive lock on the run directory until :meth:`unlock` or exit."""
        import fcntl

        fd = os.open(self.files.lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunDirectoryError(
                f"the run directory {self.root} is in use by another simba process; "
                "wait for it to finish, or stop it first"
            ) from None
        self._lock_fd = fd

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        self.lock()  # refuses while another simba works in it
        try:
            yield
        finally:
            self.unlock()

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def call_dir(self, call: Call) -> Path:
        """Where the files of ``call`` go (not created)."""
        if self.journal:
            return self._journal_dirs.get(call.module.name) or self._journal_dir(call)
        for known, path in self._call_dirs:  # the engine asks for the running and next call
            if known is call:
                return path
        if call.mode is Mode.END:
            path = self.root / "end"
        elif call.mode is Mode.START:
            path = self.tick_dir(call.tick)
        else:
            path = self.tick_dir(call.tick + 1)
        self._call_dirs = [self._call_dirs[-1], (call, path)] if self._call_dirs else [(call, path)]
        return path

    def _journal_dir(self, call: Call) -> Path:
        path = self._journal_dirs[call.module.name] = layouts.journal_call_dir(self.root, call)
        path.parent.mkdir(parents=True, exist_ok=True)  # the call directory's parents
        return path

    def tick_dir(self, tick: int) -> Path:
        return self.root / self.timeline.format_tick(tick)

    def service_dir(self, name: str) -> Path:
        """``modules/<name>/`` of a service: its ``module.log`` and its ``state/`` directory."""
        return self.root / "modules" / name

    def link_start(self, target: Path) -> None:
        """Point ``start`` at the directory of the start calls (none in a journal run)."""
        if self.journal:
            return
        link = self.root / "start"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target.name)  # relative, so the run directory can move

    # -- files of a call ---------------------------------------------------------------

    def number(self, index: int) -> str:
        return f"{index:0{self._width}d}"

    def config_path(self, directory: Path, index: int) -> Path:
        return self._files(directory, index)[0]

    def status_path(self, directory: Path, index: int) -> Path:
        return self._files(directory, index)[1]

    def output_paths(self, directory: Path, index: int, attempt: int) -> tuple[Path, Path]:
        if attempt == 1:
            return self._files(directory, index)[2]
        number = self.number(index)
        return directory / f"stdout_{number}.{attempt}", directory / f"stderr_{number}.{attempt}"

    def _files(self, directory: Path, index: int) -> tuple[Path, Path, tuple[Path, Path]]:
        """A call's config, status and first attempt's output paths, made once per
        directory and module (a journal run's directories are the same every call)."""
        key = (directory, index)
        files = self._file_paths.get(key)
        if files is None:
            if len(self._file_paths) > 4096:  # tick directories: only the last few are asked
                self._file_paths.clear()
            number = self.number(index)
            files = self._file_paths[key] = (
                directory / f"module_{number}.json",
                directory / f"status_{number}.json",
                (directory / f"stdout_{number}", directory / f"stderr_{number}"),
            )
        return files

    # -- a module's own directories ------------------------------------------------------

    def placeholder_values(self, module: ModuleSpec) -> dict[str, str]:
        """What the placeholders of ``module``'s command and env stand for in this run."""
        dirs = self.module_dirs(module.name)
        values = {
            "python": sys.executable,
            "runDir": str(self.root),
            "stateDir": str(dirs.state),
            "cacheDir": str(dirs.cache),
            "dataDir": str(dirs.data),
            "logDir": str(dirs.log),
        }
        if module.package is not None:
            values["packageDir"] = str(module.package.directory)
        return values

    def module_dirs(self, name: str) -> ModuleDirectories:
        """``modules/<name>/{state,cache,data,log}`` of module ``name`` (not created)."""
        root = self.root / "modules" / name
        return ModuleDirectories(
            root=root,
            state=root / "state",
            cache=root / "cache",
            data=root / "data",
            log=root / "log",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleDirectories:
    """A module's own directories in the run; ``data`` is private to the user (0700)."""

    root: Path
    state: Path
    cache: Path
    data: Path
    log: Path

    def create(self) -> None:
        """Make the four directories (kept if they exist); ``data`` gets mode 0700."""
        for directory in (self.state, self.cache, self.log):
            directory.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(mode=0o700, exist_ok=True)
        self.data.chmod(0o700)  # also when it existed, or the umask was unusual
