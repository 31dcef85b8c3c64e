"""A batch run as its dependencies allow, up to ``jobs`` calls at once (dependency mode).

A call starts once every call it ``sees`` has finished; its config gets the
tick-start commonData plus exactly those calls' updates in serial order, and the
batch's updates are applied in serial order at the end, so the results cannot differ
from a serial run.  The first failure stops the other calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from simba.engine.state import CommonUpdate, apply_updates
from simba.plan import Batch, Call

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor


class Stopped(Exception):
    """A call was cut off because another call of its batch failed."""


def run_concurrently(
    batch: Batch,
    call: Callable[[Call, Mapping[str, Any] | None], CommonUpdate],
    base: Mapping[str, Any] | None,
    *,
    pool: ThreadPoolExecutor,
    jobs: int,
    on_failure: Callable[[], None],
) -> list[CommonUpdate]:
    """The updates of ``batch``'s calls in serial order; raises the first failure.

    ``call(call, view)`` runs one call with the commonData it sees; ``on_failure`` makes
    the running calls stop (they raise :class:`Stopped`).
    """
    from concurrent.futures import FIRST_COMPLETED, wait  # only dependency mode needs it

    order = [each.module.name for each in batch.calls]
    updates: dict[str, CommonUpdate] = {}
    waiting = list(batch.calls)
    running: dict[Future[CommonUpdate], Call] = {}
    failure: BaseException | None = None
    while waiting or running:
        for each in list(waiting):
            if failure is not None or len(running) >= jobs:
                break
            if each.sees.issubset(updates):
                view = apply_updates(base, (updates[n] for n in order if n in each.sees))
                running[pool.submit(call, each, view)] = each
                waiting.remove(each)
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            done = running.pop(future)
            try:
                updates[done.module.name] = future.result()
            except Stopped:
                pass
            except BaseException as exc:
                if failure is None:
                    failure = exc
                    on_failure()
        if failure is not None:
            waiting.clear()
    if failure is not None:
        raise failure
    return [updates[n] for n in order]
