"""Modules in containers (DESIGN §15): the ``container`` object, the engines' command
lines, image digests and the containers a run leaves behind.

- :mod:`~simba.containers.spec`: the frozen ``Container`` a schedule entry may carry;
- :mod:`~simba.containers.argv`: the engine command line of a call, a resident process or
  a service (pure: no I/O, tested against the engines' documented command lines);
- :mod:`~simba.containers.engines`: the engines on this machine, image digests, pulls and
  the removal of a run's containers by label.
"""
