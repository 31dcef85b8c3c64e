"""``simba show`` and ``simba replay``: one call of a run, printed or run again by hand.

``simba show RUN_DIR --module NAME --tick N`` prints the call's config document, its
status and its output, in either run layout (from the tick directory's files, or from
the ``documents`` table of a journal run, :mod:`simba.engine.layout`).  ``simba replay``
writes that config into a fresh scratch directory (``statusFile`` pointing there) and
runs the module's command on it once, as its type runs it (one-shot with the config
path, or as a resident process with one request), then prints the status it wrote.
The run directory is only read.  ``--mode`` picks the call when a tick has several
(a start and a step at the initial tick); the default is the step, else what is there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from simba.errors import SimbaError
from simba.record.rows import CallDocuments

MODES = ("start", "step", "end")


class CallNotFound(SimbaError):
    """The run has no such call."""

    exit_status = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class ShownCall(CallDocuments):
    """A call's documents and output as ``run.db`` or its tick directory keeps them."""

    where: str
    """Where it was found: the tick directory, or ``run.db``."""


def find_call(run_dir: Path, module: str, tick: int, mode: str | None) -> ShownCall:
    """The last attempt of ``module``'s call at ``tick`` (of ``mode``), in either layout."""
    from simba.engine.layout import read_documents

    if not (run_dir / ".simba").is_dir():
        raise CallNotFound(f"{run_dir} is not a SIMBA run directory (it has no .simba/)")
    recorded = [d for d in read_documents(run_dir, module, tick) if mode in (None, d.mode)]
    journal = (run_dir / ".simba" / "layout").exists()
    if recorded and (journal or not _tick_files(run_dir, module, tick, mode)):
        last = _pick(recorded, lambda d: d.mode)
        found = [d for d in recorded if d.mode == last.mode][-1]
        return ShownCall(
            module=module,
            mode=found.mode,
            tick=tick,
            attempt=found.attempt,
            config=found.config,
            status=found.status,
            stdout=found.stdout,
            stderr=found.stderr,
            where=str(run_dir / ".simba" / "run.db"),
        )
    files = _tick_files(run_dir, module, tick, mode)
    if not files:
        said = f"{mode} call" if mode else "call"
        raise CallNotFound(
            f"{run_dir} has no {said} of module {module!r} at tick {tick}; "
            "check the module's name and the tick (simba status RUN_DIR lists the calls)"
        )
    config_path, document = _pick(files, lambda f: f[1]["mode"])
    number = config_path.stem.partition("_")[2]
    directory = config_path.parent
    return ShownCall(
        module=module,
        mode=document["mode"],
        tick=tick,
        attempt=1,
        config=config_path.read_text(encoding="utf-8"),
        status=_read(directory / f"status_{number}.json"),
        stdout=_read(directory / f"stdout_{number}") or b"",
        stderr=_read(directory / f"stderr_{number}") or b"",
        where=str(directory),
    )


def _pick(items: list[Any], mode_of: Any) -> Any:
    """The step among ``items`` if there is one, else the last."""
    steps = [item for item in items if mode_of(item) == "step"]
    return steps[-1] if steps else items[-1]


def _tick_files(
    run_dir: Path, module: str, tick: int, mode: str | None
) -> list[tuple[Path, dict[str, Any]]]:
    """The config files of the tick layout for ``module``'s calls at ``tick``."""
    parts = _module_spec(run_dir, module, with_rundir=True)
    if parts is None:
        return []
    spec, rundir = parts
    index = spec.index
    found = []
    for directory in (rundir.tick_dir(tick), rundir.tick_dir(tick + 1), run_dir / "end"):
        for path in sorted(directory.glob("module_*.json")):
            if int(path.stem.partition("_")[2] or -1) != index:
                continue
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if document.get("currentTick") == tick and mode in (None, document.get("mode")):
                found.append((path, document))
    return found


def _module_spec(run_dir: Path, module: str, *, with_rundir: bool = False) -> Any:
    """The module's spec from the run's scenario (with its placeholders filled in)."""
    from simba.engine.rundir import RunDirectory
    from simba.engine.start import resume_source
    from simba.scenario import load_scenario

    source, _ = resume_source(run_dir)
    scenario = load_scenario(source)
    for spec in scenario.modules:
        if spec.name == module:
            count = len(scenario.modules) + len(scenario.services)
            rundir = RunDirectory(run_dir, scenario.timeline, count)
            filled = spec.with_placeholders(rundir.placeholder_values(spec))
            return (filled, rundir) if with_rundir else filled
    return None


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _text(data: bytes | None) -> str:
    return "(none)" if data is None else data.decode("utf-8", "replace").rstrip("\n")


def _pretty(text: str | bytes | None) -> str:
    if text is None:
        return "(none)"
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return _text(text if isinstance(text, bytes) else text.encode())


call_options = [
    click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False)),
    click.option("--module", "module", required=True, help="The module's name."),
    click.option("--tick", type=int, required=True, help="The call's tick (currentTick)."),
    click.option("--mode", type=click.Choice(MODES), help="start, step or end (default: step)."),
]


def _with_call_options(function: Any) -> Any:
    for option in reversed(call_options):
        function = option(function)
    return function


@click.command("show")
@_with_call_options
def show(run_dir: Path, module: str, tick: int, mode: str | None) -> None:
    """Print one call's config, status and output (either run layout)."""
    call = find_call(run_dir, module, tick, mode)
    click.echo(f"module {call.module}, {call.mode} at tick {call.tick}, attempt {call.attempt}")
    click.echo(f"(from {call.where})")
    for title, body in (
        ("config", _pretty(call.config)),
        ("status", _pretty(call.status)),
        ("stdout", _text(call.stdout)),
        ("stderr", _text(call.stderr)),
    ):
        click.echo(f"--- {title}")
        click.echo(body)


@click.command("replay")
@_with_call_options
def replay(run_dir: Path, module: str, tick: int, mode: str | None) -> None:
    """Run one call again in a scratch directory; print its status."""
    call = find_call(run_dir, module, tick, mode)
    spec = _module_spec(run_dir, module)
    if spec is None:
        raise CallNotFound(f"the scenario of {run_dir} has no module {module!r} any more")
    scratch = Path(tempfile.mkdtemp(prefix="simba-replay-"))
    document = json.loads(call.config)
    document["statusFile"] = str(scratch / "status.json")
    config_path = scratch / "config.json"
    config_path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    click.echo(f"replaying {call.mode} at tick {tick} of module {module} in {scratch}")
    env = {**os.environ, **spec.env, "SIMBA_RUN_DIR": str(run_dir)}
    status = _run_once(spec, document, config_path, env)
    click.echo("--- status")
    click.echo(_pretty(status))
    ok = status is not None and _succeeded(status)
    sys.exit(0 if ok else 1)


def _run_once(
    spec: Any, document: dict[str, Any], config_path: Path, env: dict[str, str]
) -> bytes | None:
    """Run the call as the module's type does; the status it gave (``None``: none)."""
    status_path = Path(document["statusFile"])
    if spec.type.value != "resident":
        subprocess.run(
            [*spec.argv, str(config_path)], cwd=spec.working_directory, env=env, check=False
        )
        return _read(status_path)
    inline = spec.protocol == "inline"
    env = {**env, "SIMBA_MODULE_MODE": "resident"}
    if inline:
        env["SIMBA_MODULE_PROTOCOL"] = "inline"
    request = json.dumps(document, separators=(",", ":")) if inline else str(config_path)
    process = subprocess.Popen(
        spec.argv,
        cwd=spec.working_directory,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(request.encode() + b"\n")
    process.stdin.close()  # one request, then end of input: the module answers and exits
    answer = None
    for line in process.stdout:
        if inline and line.startswith(b"STATUS:") and answer is None:
            answer = line[len(b"STATUS:") :].strip()
        elif not (line.startswith(b"DONE:") and not inline):
            sys.stdout.write(line.decode("utf-8", "replace"))
    process.wait()
    return answer if inline else _read(status_path)


def _succeeded(status: bytes) -> bool:
    """Whether ``status`` is a valid success, judged as the engine judges a status."""
    from simba.engine.protocol import StatusProblem, status_from_line

    try:
        return status_from_line(status).success
    except StatusProblem as exc:
        click.echo(f"the status is unusable: {exc}", err=True)
        return False
