"""A service whose stats answers are hostile: the poller treats them as bad answers and goes on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from test_services import client, run, service

from simba.events import RunWarning, ServiceStats


def test_deeply_nested_stats_json_is_a_bad_answer_and_polling_goes_on(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """JSON nested deeper than the recursion limit gives one warning; later counts still arrive."""
    scenario = write_scenario(
        [service(env={"SVC_JOBS": "D,D,3,5"}, statsInterval=0.1), client(sleep=0.6)]
    )
    engine, events = run(scenario, tmp_path / "out")
    warnings = [e.message for e in events.of(RunWarning) if e.module == "svc"]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("could not read its stats from http://127.0.0.1:")
    assert "recursion" in warnings[0]
    assert [e.jobs_completed for e in events.of(ServiceStats)] == [3, 5]
    assert engine.summary is not None and engine.summary.outcome == "success"
