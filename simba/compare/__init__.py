"""Comparing runs: two runs, two sweeps cell by cell, or a run against a saved baseline.

:mod:`~simba.compare.runs` reads what a comparison needs from a run database or a
baseline file; :mod:`~simba.compare.rules` holds the tolerances; :mod:`~simba.compare.diff`
compares; :mod:`~simba.compare.render` writes the result for a terminal, as JSON or as
Markdown; :mod:`~simba.compare.baseline` saves a baseline; :mod:`~simba.compare.junit`
writes JUnit XML for ``simba compare``, ``simba run`` and ``simba sweep``.
"""
