"""Sweeps: many cells of one scenario, run as processes or as Parsl apps."""
