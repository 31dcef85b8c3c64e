"""``simba status``: a run's state from its database and its lock, never disturbing its driver.

Runs in progress and killed runs are real (tests/record/test_status_live.py); here the
cases no real run makes on demand, on databases filled by hand from the schema's DDL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import MODULES, run_cli
from handmade_db import make_run

from simba.record.liveness import check_driver, lock_holder

DAY = "2024-01-0{}T00:00:00"
STATE = [
    (0, 0, 0, "m", "start", DAY.format(1), {}, {"n": 0}),
    (1, 0, 0, "m", "step", DAY.format(1), {"x": 1}, {"n": 1}),
    (1, 1, 0, "m", "step", DAY.format(2), {"x": 2}, {"n": 2}),
]
META = {"runId": "hand", "initialTick": 0, "finalTick": 3, "plannedCalls": 5}


def status_json(run_dir: Path) -> dict[str, Any]:
    result = run_cli("status", run_dir, "--json", cwd=run_dir.parent)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def hold_lock(lock: Path) -> subprocess.Popen[str]:
    """A process that holds the flock of ``lock`` (as a driver does) until it is killed."""
    code = (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
        "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(120)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, lock], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_a_directory_that_is_no_run_is_refused_with_exit_2(tmp_path: Path) -> None:
    """A directory without .simba/ or .sweep/, or none at all, is a usage error (exit 2)."""
    (tmp_path / "plain").mkdir()
    for target in (tmp_path / "plain", tmp_path / "missing"):
        result = run_cli("status", target, cwd=tmp_path)
        assert result.returncode == 2
        assert "is not a SIMBA run or sweep directory" in result.stderr
        assert "Traceback" not in result.stderr
    assert "does not exist" in run_cli("status", tmp_path / "missing", cwd=tmp_path).stderr


def test_a_finished_run_shows_its_outcome_final_tick_and_calls(tmp_path: Path) -> None:
    """A run whose driver recorded success: state, last tick and time, calls, no resume hint."""
    run_dir = tmp_path / "hand"
    ended = time.time() - 5
    make_run(
        run_dir,
        state=STATE,
        meta={**META, "outcome": "success"},
        drivers=[{"ended_at": ended, "outcome": "success", "started_at": ended - 2.5}],
    )
    document = status_json(run_dir)
    assert document["state"] == "success"
    assert (document["tick"], document["time"]) == (1, "2024-01-02T00:00:00")
    assert (document["callsDone"], document["plannedCalls"]) == (3, 5)
    assert document["wallSeconds"] == 2.5 and document["etaSeconds"] is None
    assert document["driver"]["alive"] is False and document["resumeCommand"] is None


def test_a_driver_gone_before_the_end_is_said_with_the_command_to_resume(tmp_path: Path) -> None:
    """No outcome recorded, no lock held: the driver is gone; its cut-off call is not running."""
    run_dir = tmp_path / "hand"
    make_run(
        run_dir,
        state=STATE,
        meta=META,
        drivers=[{}],
        attempts=[{"module": "m", "mode": "step", "tick": 2}],
    )
    document = status_json(run_dir)
    assert document["state"] == "stopped" and document["running"] == []
    assert document["driver"] == {
        "number": 1,
        "pid": 1,
        "host": document["driver"]["host"],
        "alive": False,
        "checkedBy": "lock",
    }
    assert document["resumeCommand"] == f"simba run --resume {run_dir}"
    text = run_cli("status", run_dir, cwd=tmp_path).stdout
    assert "gone before the end" in text
    assert f"resume:  simba run --resume {run_dir}\n" in text


def test_the_lock_holder_is_the_live_driver_and_its_open_attempt_runs(tmp_path: Path) -> None:
    """While a process holds .simba/lock the run is running, that process is the driver (not
    the pid recorded, which may have been reused), and the open attempt is the running call."""
    run_dir = tmp_path / "hand"
    make_run(
        run_dir,
        state=STATE,
        meta=META,
        drivers=[{"pid": 1}],
        attempts=[{"module": "m", "mode": "step", "tick": 2, "started_at": time.time() - 3}],
    )
    holder = hold_lock(run_dir / ".simba" / "lock")
    try:
        document = status_json(run_dir)
    finally:
        holder.kill()
        holder.communicate()
    assert document["state"] == "running" and document["resumeCommand"] is None
    assert document["driver"]["pid"] == holder.pid
    assert document["driver"]["alive"] is True and document["driver"]["checkedBy"] == "lock"
    [call] = document["running"]
    assert (call["module"], call["mode"], call["tick"], call["attempt"]) == ("m", "step", 2, 1)
    assert call["seconds"] >= 3
    assert document["etaSeconds"] is not None and document["etaSeconds"] > 0
    assert status_json(run_dir)["state"] == "stopped"  # the holder is gone: so is the lock


def test_status_never_takes_the_lock_a_starting_driver_needs(tmp_path: Path) -> None:
    """A process taking the run's lock as a starting driver does (non-blocking) is never
    refused while simba status looks at the run again and again."""
    run_dir = tmp_path / "hand"
    make_run(run_dir, state=STATE, meta=META, drivers=[{}])
    code = (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); refused = tries = 0\n"
        "end = time.monotonic() + float(sys.argv[2])\n"
        "while time.monotonic() < end:\n"
        "    tries += 1\n"
        "    try: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "    except BlockingIOError: refused += 1\n"
        "    else: fcntl.flock(fd, fcntl.LOCK_UN)\n"
        "print(refused, tries)\n"
    )
    starter = subprocess.Popen(
        [sys.executable, "-c", code, run_dir / ".simba" / "lock", "4"],
        stdout=subprocess.PIPE,
        text=True,
    )
    looks = 0
    while starter.poll() is None:
        run_cli("status", run_dir, cwd=tmp_path)
        looks += 1
    refused, tries = map(int, starter.communicate()[0].split())
    assert looks >= 2 and tries > 100
    assert refused == 0


def test_a_driver_on_another_host_cannot_be_told_from_here(tmp_path: Path) -> None:
    """A driver recorded on another host, with no end: alive is unknown, and so is the state."""
    run_dir = tmp_path / "hand"
    make_run(run_dir, state=STATE, meta=META, drivers=[{"host": "elsewhere.invalid"}])
    document = status_json(run_dir)
    assert document["state"] == "unknown" and document["driver"]["alive"] is None
    assert document["resumeCommand"] is None
    assert "cannot tell from this machine" in run_cli("status", run_dir, cwd=tmp_path).stdout


def test_the_last_error_is_the_runs_or_else_the_latest_failed_attempt(tmp_path: Path) -> None:
    """A failed attempt that was retried still shows; a failed run shows its own error."""
    attempt = {"module": "m", "mode": "step", "tick": 1, "ended_at": time.time()}
    attempt |= {"outcome": "exit", "reason": "exited with code 3"}
    make_run(tmp_path / "a", state=STATE, meta=META, drivers=[{}], attempts=[attempt])
    error = status_json(tmp_path / "a")["lastError"]
    assert error == "module 'm' (step at tick 1, attempt 1): exited with code 3"
    failed = {**META, "outcome": "failed", "error": "module 'm' (tick 1) exited with code 3"}
    make_run(tmp_path / "b", state=STATE, meta=failed, drivers=[{}], attempts=[attempt])
    document = status_json(tmp_path / "b")
    assert document["lastError"] == failed["error"] and document["state"] == "failed"
    assert document["resumeCommand"] == f"simba run --resume {tmp_path / 'b'}"


def test_lock_holder_reads_proc_locks_and_says_when_it_cannot(tmp_path: Path) -> None:
    """No lock file: nobody holds it; /proc/locks unreadable: unknowable, and then a
    recorded pid on this host is checked instead."""
    assert lock_holder(tmp_path / "lock") is None
    assert lock_holder(tmp_path / "lock", locks=tmp_path / "no-such-file") is False
    checked = check_driver(tmp_path / "lock", pid=2**22 + 7, locks=tmp_path / "no-such-file")
    assert (checked.alive, checked.method) == (False, "pid")


def test_a_run_from_before_the_database_shows_what_its_summary_says(
    tmp_path: Path, write_scenario: Any
) -> None:
    """A run directory without run.db (an older SIMBA): said so, and summary.json's facts."""
    module = {"name": "m", "priority": 1, "command": str(MODULES / "ok.sh")}
    scenario = write_scenario([module])
    assert (
        run_cli("run", scenario, "-o", tmp_path / "out", "--run-id", "old", cwd=tmp_path).returncode
        == 0
    )
    run_dir = tmp_path / "out" / "old"
    for name in ("run.db", "run.db-wal", "run.db-shm"):
        (run_dir / ".simba" / name).unlink(missing_ok=True)
    document = status_json(run_dir)
    assert document["source"] == "files" and document["state"] == "success"
    assert "no run database" in document["note"]
    assert (document["callsDone"], document["plannedCalls"], document["finalTick"]) == (5, 5, 3)
    (run_dir / ".simba" / "summary.json").unlink()
    document = status_json(run_dir)
    assert document["state"] == "stopped"  # a checkpoint, no summary, no driver
    assert document["resumeCommand"] == f"simba run --resume {run_dir}"


def test_a_new_directory_with_nothing_recorded_is_starting_then_stopped(tmp_path: Path) -> None:
    """Just made and unlocked: its driver may be about to lock it (starting); some seconds
    later with still nothing recorded, its driver died before its first call (stopped)."""
    meta = tmp_path / "new" / ".simba"
    meta.mkdir(parents=True)
    (meta / "run.json").write_text("{}")
    assert status_json(tmp_path / "new")["state"] == "starting"
    old = time.time() - 60
    os.utime(meta / "run.json", (old, old))
    document = status_json(tmp_path / "new")
    assert document["state"] == "stopped"
    assert document["resumeCommand"] == f"simba run --resume {tmp_path / 'new'}"


def test_watch_on_a_terminal_redraws_in_place_and_ends_with_the_run(tmp_path: Path) -> None:
    """Through a pseudo-terminal, --watch clears the screen and draws the status; a run
    that has ended ends the watch at once."""
    import pty

    run_dir = tmp_path / "hand"
    make_run(run_dir, state=STATE, meta={**META, "outcome": "success"}, drivers=[{}])
    primary, secondary = pty.openpty()
    watch = subprocess.Popen(
        [sys.executable, "-m", "simba", "status", run_dir, "--watch"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
    )
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    assert watch.wait(timeout=30) == 0
    text = output.decode()
    assert text.startswith("\x1b[H\x1b[J") and "state:   success" in text
