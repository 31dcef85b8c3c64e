"""Stopping hosted services as forgivingly as the real hosts, and more honestly (issue 14)."""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES
from test_services import Recorder, client, run, service, summary_of

from simba.engine import services as services_module
from simba.events import RunWarning, ServiceStats

SLOW_STOP = str(MODULES / "svc_slow_stop.py")

WriteScenario = Callable[..., Path]


def warnings_of(events: Recorder) -> list[str]:
    return [warning.message for warning in events.of(RunWarning)]


def behind_sh(**fields: Any) -> dict[str, Any]:
    """svc_slow_stop.py as the worker of a ``sh -c`` wrapper that dies on SIGTERM."""
    command = f"{shlex.quote(sys.executable)} {shlex.quote(SLOW_STOP)} & wait"
    return service(command=["/bin/sh", "-c", command], **fields)


def test_service_behind_sh_finishes_its_clean_shutdown(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """The wrapper exits on SIGTERM at once; its worker still gets the grace period, ends
    cleanly, and nothing is SIGKILLed or warned about."""
    engine, events = run(write_scenario([behind_sh(), client()]), tmp_path / "out")
    state = engine.rundir.root / "modules" / "svc" / "state"
    assert (state / "clean").read_text() == "done\n"
    assert not any("SIGKILL" in message for message in warnings_of(events))


def test_last_poll_counts_jobs_done_while_stopping(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """A job finished during the service's shutdown is in its last stats and the summary."""
    entry = service(command=SLOW_STOP, env={"SVC_JOBS0": "3"})
    engine, events = run(write_scenario([entry, client()]), tmp_path / "out")
    counts = [stats.jobs_completed for stats in events.of(ServiceStats)]
    assert counts[-1] == 4, counts
    assert summary_of(engine.rundir.root)["services"]["svc"]["jobsCompleted"] == 4


def test_a_service_that_must_be_sigkilled_gets_a_warning(
    write_scenario: WriteScenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker slower than the grace period: its group is SIGKILLed at the end, with one
    warning naming the service and the grace period."""
    monkeypatch.setattr(services_module, "STOP_GRACE_PERIOD", 0.5)
    entry = behind_sh(env={"SVC_STOP_SECONDS": "5"})
    started = time.monotonic()
    engine, events = run(write_scenario([entry, client()]), tmp_path / "out")
    assert time.monotonic() - started < 5
    (killed,) = [m for m in warnings_of(events) if "SIGKILL" in m]
    assert "service 'svc'" in killed and "0.5 s after SIGTERM" in killed
    assert not (engine.rundir.root / "modules" / "svc" / "state" / "clean").exists()


def test_one_warning_for_lines_real_station_drops(
    write_scenario: WriteScenario, tmp_path: Path
) -> None:
    """INFO:/ERROR: on stderr or without the space: SIMBA shows them, and warns once."""
    say = "INFO:no space|!INFO: on stderr|!ERROR: also stderr"
    _, events = run(write_scenario([service(env={"SVC_SAY": say}), client()]), tmp_path / "out")
    dropped = [m for m in warnings_of(events) if "real Station shows only" in m]
    assert len(dropped) == 1 and "'INFO:no space'" in dropped[0]
