"""Back-ends that run module calls; see :mod:`simba.runners.base` for the contract."""
