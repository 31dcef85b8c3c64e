"""Sweeps: many cells of one scenario, run as processes or as Parsl apps.

:mod:`~simba.sweep.cells` reads the sweep file into cells and their scenarios;
:mod:`~simba.sweep.directory` is the sweep's directory, its lock and the cleanup after a
killed driver; :mod:`~simba.sweep.pool` runs the cells.
"""
