"""Module packages (DESIGN §10): ZIP archives with a descriptor, installed under SIMBA_HOME.

:mod:`~simba.packages.descriptor` checks ``descriptor.json``, :mod:`~simba.packages.versions`
parses versions and ranges, :mod:`~simba.packages.pack` writes archives,
:mod:`~simba.packages.archive` checks and unpacks them, :mod:`~simba.packages.store` installs,
finds and removes packages, :mod:`~simba.packages.scaffold` writes a new module.
"""
