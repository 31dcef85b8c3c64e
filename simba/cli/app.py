"""The ``simba`` click group and :func:`main`, the console entry point.

The group gathers the command families (``run``, ``validate``/``plan``/``schema``,
``module``, ``sweep``) and is the one place that turns a
:class:`~simba.errors.SimbaError` into its message and exit status; anything else is
a bug and shows a traceback.  Each command imports what it needs inside its function,
so that ``simba --version`` imports nothing heavy.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from simba._version import __version__
from simba.cli import calls
from simba.cli.compare import baseline_group, compare
from simba.cli.inspect import plan, schema, validate
from simba.cli.modules import module_group
from simba.cli.report import report
from simba.cli.results import export, status
from simba.cli.run import run
from simba.cli.session import Session
from simba.cli.sweep import sweep
from simba.cli.terminal import Terminal


class SimbaGroup(click.Group):
    """The group of SIMBA's commands; a :class:`SimbaError` ends it with its message and code.

    The message goes to stderr as ``error: <message>`` (and to the Station observer of
    ``simba run --api`` as an ``ERROR:`` line); the exit status is the error's
    ``exit_status``.
    """

    def invoke(self, ctx: click.Context) -> Any:
        from simba.errors import SimbaError

        session = ctx.ensure_object(Session)
        try:
            return super().invoke(ctx)
        except SimbaError as exc:
            if session.station is not None:
                session.station.fail(str(exc))
            Terminal().error(str(exc))
            raise click.exceptions.Exit(exc.exit_status) from exc


@click.group(cls=SimbaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="simba")
def cli() -> None:
    """SIMBA runs co-simulations: external modules stepped together on one clock."""


for command in (run, validate, plan, schema, module_group, sweep, calls.show, calls.replay):
    cli.add_command(command)
cli.add_command(status)
cli.add_command(export)
cli.add_command(report)
cli.add_command(compare)  # simba compare and simba baseline (issue 16)
cli.add_command(baseline_group)


def main(argv: list[str] | None = None) -> NoReturn:
    """Console entry point: a :class:`SimbaError` becomes its message and exit status."""
    try:
        status = cli.main(args=argv, prog_name="simba", standalone_mode=False, obj=Session())
    except click.exceptions.Abort:
        Terminal().error("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        api = _api_value(sys.argv[1:] if argv is None else argv)
        if api is not None and isinstance(exc, click.UsageError):
            from simba.cli.hosted import hosted_usage_error

            hosted_usage_error(api, exc.format_message())  # a module never exits on its own
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(status if isinstance(status, int) else 0)  # an int: the status of an Exit


def _api_value(args: list[str]) -> str | None:
    """For ``simba run --api …``: the word after ``--api`` (``""`` if none); else ``None``."""
    if not args or args[0] != "run":
        return None
    for i, word in enumerate(args):
        if word.startswith("--api="):
            return word.partition("=")[2]
        if word == "--api":
            return args[i + 1] if i + 1 < len(args) else ""
    return None
