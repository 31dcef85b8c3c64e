"""The ``simba`` command: a thin click layer over the public API.

One module per command family: :mod:`~simba.cli.run`, :mod:`~simba.cli.inspect`
(validate, plan, schema), :mod:`~simba.cli.modules`, :mod:`~simba.cli.sweep`; the group
and :func:`main` are in :mod:`~simba.cli.app`, all terminal output goes through
:mod:`~simba.cli.terminal`.
"""

from simba.cli.app import cli, main

__all__ = ["cli", "main"]
