"""The ``simba`` command: a thin click layer over the public API."""

from simba.cli.main import cli, main

__all__ = ["cli", "main"]
