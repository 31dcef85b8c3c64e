"""What the commands of one ``simba`` invocation share: click's context object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simba.observers.station import StationObserver


@dataclass(slots=True)
class Session:
    """Set by the commands as they go; read by the group when a command fails."""

    station: StationObserver | None = None
    """The Station observer of ``simba run --api``: a failure that ends SIMBA before the
    run does is reported to it too, as an ``ERROR:`` line on stdout."""
