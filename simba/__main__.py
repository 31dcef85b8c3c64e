"""``python -m simba``: the same as the ``simba`` command."""

from simba.cli import main

main()
