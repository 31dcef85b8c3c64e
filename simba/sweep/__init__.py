"""Sweeps: many cells of one scenario, run as processes or as Parsl apps.

:mod:`~simba.sweep.cells` reads the sweep file into cells and their scenarios;
:mod:`~simba.sweep.pool` runs them.
"""
