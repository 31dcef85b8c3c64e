"""What ``simba run`` prints, on a real pseudo-terminal 80 columns wide and in a pipe.

On a terminal: the run's id and directory first, a two-line display that keeps tick,
simulated time, calls and ETA whole, module lines with tick and time, each warning once
with the count of its repeats, and one outcome line last; a failure's cause once with
its stderr tail, its log and the command that continues the run (which works).
``--quiet`` and ``NO_COLOR`` too; in a pipe the same words without escape codes.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import shlex
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import MODULES, run_cli

COLUMNS = 80
#: Control sequences (CSI ... letter, and OSC) that a terminal acts on without printing.
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
#: Select Graphic Rendition parameters that set a colour (foreground or background).
_COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")

DRIVER = {
    "initialTime": "2024-01-01T00:00:00",
    "endTime": "2024-01-13T00:00:00",
    "scheduleIntervals": [{"tickDuration": "P1D"}],
}
#: 12 ticks: a start call, 12 steps and an end call of each module.
CALLS_PER_MODULE = 14


def in_terminal(
    args: list[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    interrupt_after: str | None = None,
) -> tuple[int, str]:
    """Run ``simba ARGS`` with stdin, stdout and stderr on a new 80-column pseudo-terminal.

    Returns the exit status and everything the terminal received, escape codes and all.
    ``interrupt_after``: send SIGINT (as Ctrl-C does) once the terminal has received this.
    """
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, COLUMNS, 0, 0))
    environment = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    environment.pop("NO_COLOR", None)
    environment.update(TERM="xterm-256color", **(env or {}))
    process = subprocess.Popen(
        [sys.executable, "-m", "simba", *args],
        cwd=cwd,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=environment,
        start_new_session=True,
    )
    os.close(slave)
    received = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every end of the terminal's other side is closed
                break
            if not chunk:
                break
            received += chunk
            if interrupt_after and interrupt_after.encode() in received:
                os.killpg(process.pid, signal.SIGINT)
                interrupt_after = None
    finally:
        os.close(master)
    return process.wait(timeout=30), received.decode("utf-8", "replace")


def screen_lines(text: str) -> list[str]:
    """The lines as a reader sees them written: control sequences out, split at CR/LF."""
    return [line for line in re.split(r"\r\n|\r|\n", _CONTROL.sub("", text)) if line.strip()]


def scenario(write_scenario: Callable[..., Path], counter: Path, *, sleep: float = 0.1) -> Path:
    """``slow`` (INFO lines, an undeclared commonData key every call) and ``flaky`` (fails
    its step at tick 2 the first time, with two lines on stderr)."""
    modules: list[dict[str, Any]] = [
        {
            "name": "slow",
            "priority": 2,
            "command": str(MODULES / "scripted.py"),
            "moduleData": {
                "sleep": sleep,
                "stdout": ["INFO: working"],
                "commonData": {"undeclared": 1},
            },
        },
        {
            "name": "flaky",
            "priority": 1,
            "command": str(MODULES / "scripted.py"),
            "moduleData": {
                "onTick": 2,
                "onMode": "step",
                "counter": str(counter),
                "attempts": [{"stderr": ["reading input.csv", "boom: no such column"], "exit": 3}],
            },
        },
    ]
    return write_scenario({"commonData": {"cases": 0}, "schedule": modules}, DRIVER)


def healthy(write_scenario: Callable[..., Path], tmp_path: Path, sleep: float = 0.1) -> Path:
    """The scenario with ``flaky``'s failure already used up: the run succeeds."""
    counter = tmp_path / "counter"
    counter.write_text("1")
    return scenario(write_scenario, counter, sleep=sleep)


def outcome_pattern(outcome: str, run_dir: Path, calls: int) -> re.Pattern[str]:
    return re.compile(
        rf"run {outcome}: {calls}/{2 * CALLS_PER_MODULE} calls in \d+\.\d\d s, "
        rf"(\d+) attempts -> {re.escape(str(run_dir))}"
    )


def test_a_terminal_shows_id_directory_display_and_outcome_at_80_columns(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """Run id and directory first; tick, time, calls, rate and ETA whole; outcome last."""
    source = healthy(write_scenario, tmp_path, sleep=0.15)
    run_dir = tmp_path / "runs" / "tty"
    status, text = in_terminal(["run", str(source), "-o", "runs", "--run-id", "tty"], tmp_path)
    lines = screen_lines(text)
    assert status == 0, text
    assert lines[0] == f"run tty: {run_dir}"
    assert lines[1].startswith("ticks 0..12 (2024-01-01T00:00:00 .. 2024-01-13T00:00:00)")
    assert outcome_pattern("success", run_dir, 28).fullmatch(lines[-1]), lines[-1]
    top = re.compile(r"tick (\d+)/12( start| end)?  2024-01-\d\dT00:00:00  .*  (\d+)/28 calls")
    second = re.compile(r"(\d+\.\d|-) calls/s  elapsed \d+:\d\d:\d\d  ETA (\d+:\d\d:\d\d)")
    frames = [line for line in lines if top.fullmatch(line) or second.fullmatch(line)]
    assert any(top.fullmatch(line) for line in frames) and any(
        (m := second.fullmatch(line)) and m.group(2) != "0:00:00" for line in frames
    ), "\n".join(lines)
    assert all(len(line) <= COLUMNS for line in frames)
    assert "…" not in text and "-:--:--" not in lines[-2]
    ticks = [int(m.group(1)) for line in frames if (m := top.fullmatch(line))]
    assert ticks == sorted(ticks) and ticks[-1] == 12
    assert "tick 3 2024-01-04T00:00:00 [slow] INFO: working" in lines


def test_repeated_warnings_are_shown_once_with_a_count(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """The warning every call of ``slow`` causes: once live, and its count at the end."""
    source = healthy(write_scenario, tmp_path, sleep=0)
    for output in (
        screen_lines(in_terminal(["run", str(source), "-o", "runs"], tmp_path)[1]),
        run_cli("run", source, "-o", "runs", cwd=tmp_path).stdout.splitlines(),
    ):
        warned = [line for line in output if "undeclared" in line]
        assert len(warned) == 2, output
        assert warned[0].startswith("warning: module 'slow' (tick 0): returned commonData keys")
        assert warned[1].startswith("warning: module 'slow' (tick 0)")
        assert warned[1].endswith(f"(and {CALLS_PER_MODULE - 1:,} more like it)")


def test_a_failure_tells_cause_tail_log_and_resume_command_which_works(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """The cause once, with the stderr tail and the log; the printed command resumes."""
    source = scenario(write_scenario, tmp_path / "counter", sleep=0)
    run_dir = tmp_path / "runs" / "f"
    status, text = in_terminal(["run", str(source), "-o", "runs", "--run-id", "f"], tmp_path)
    lines = screen_lines(text)
    assert status == 1, text
    assert "flaky step at tick 2: attempt 1 failed: exited with code 3" in lines
    cause = "error: module 'flaky' (step at tick 2) exited with code 3; last lines of its stderr:"
    assert lines.count(cause) == 1
    at = lines.index(cause)
    assert lines[at + 1 : at + 3] == ["    | reading input.csv", "    | boom: no such column"]
    assert re.fullmatch(rf"\(full log: {re.escape(str(run_dir))}/03/stderr_\d+\)", lines[at + 3])
    resume = lines[at + 4]
    assert resume == f"to continue the run: simba run --resume {run_dir}"
    assert text.count("boom: no such column") == 1
    failed = outcome_pattern("failed", run_dir, 7).fullmatch(lines[-1])
    assert failed and at + 5 == len(lines) - 1, lines
    # The table's calls add up to the outcome line's, its attempts to the line's attempts.
    rows = [line.split("│")[1:-1] for line in lines if line.startswith("│ ")]
    assert sum(int(row[1]) for row in rows) == 7
    assert sum(int(row[2]) for row in rows) == int(failed.group(1)) == 8
    command = shlex.split(resume.partition(": ")[2])
    assert command[:2] == ["simba", "run"]
    status, text = in_terminal(command[1:], tmp_path)
    lines = screen_lines(text)
    assert status == 0, text
    assert outcome_pattern("success", run_dir, 28).fullmatch(lines[-1]), lines[-1]
    assert "7 done before" in lines[1]


def test_quiet_prints_only_the_outcome_and_errors(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """--quiet: the outcome line alone on success; the failure and the outcome otherwise."""
    good = healthy(write_scenario, tmp_path, sleep=0)
    status, text = in_terminal(["run", str(good), "-o", "runs", "-q", "--run-id", "q"], tmp_path)
    assert status == 0
    assert screen_lines(text) == [
        line for line in screen_lines(text) if line.startswith("run success: 28/28 calls")
    ]
    assert len(screen_lines(text)) == 1
    piped = run_cli("run", good, "-o", "runs", "--quiet", cwd=tmp_path)
    assert piped.returncode == 0 and piped.stderr == ""
    assert len(piped.stdout.splitlines()) == 1 and piped.stdout.startswith("run success: ")
    bad = scenario(write_scenario, tmp_path / "counter2", sleep=0)
    status, text = in_terminal(["run", str(bad), "-o", "runs", "-q"], tmp_path)
    lines = screen_lines(text)
    assert status == 1
    assert lines[0] == "flaky step at tick 2: attempt 1 failed: exited with code 3"
    assert lines[1].startswith("error: module 'flaky' (step at tick 2) exited with code 3")
    assert lines[-2].startswith("to continue the run: simba run --resume ")
    assert lines[-1].startswith("run failed: 7/28 calls")
    assert not any(line.startswith(("tick", "warning", "run q:", "┃")) for line in lines)


def test_no_color_is_honoured_on_a_terminal(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """With NO_COLOR the terminal gets no colour (bold stays); without it, it does."""
    for name, env in (("plain", {"NO_COLOR": "1"}), ("coloured", {})):
        source = scenario(write_scenario, tmp_path / f"counter-{name}", sleep=0)
        status, text = in_terminal(
            ["run", str(source), "-o", "runs", "--run-id", name], tmp_path, env
        )
        assert status == 1
        assert screen_lines(text)[-1].startswith("run failed: 7/28 calls")
        assert bool(_COLOUR.search(text)) is (name == "coloured"), name


def test_a_pipe_gets_the_same_words_without_escape_codes(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """In a pipe: id and directory, module lines with tick and time, cause, tail, resume,
    the outcome line last, and not one escape code."""
    source = scenario(write_scenario, tmp_path / "counter", sleep=0)
    run_dir = tmp_path / "runs" / "p"
    result = run_cli("run", source, "-o", "runs", "--run-id", "p", cwd=tmp_path)
    assert result.returncode == 1
    assert "\x1b" not in result.stdout + result.stderr
    out = result.stdout.splitlines()
    assert out[0] == f"run p: {run_dir}"
    assert "tick 2 2024-01-03T00:00:00 step: 2 calls (6/28 done)" in out
    assert "  tick 1 2024-01-02T00:00:00 [slow] INFO: working" in out
    assert "  flaky step at tick 2: attempt 1 failed: exited with code 3" in out
    assert outcome_pattern("failed", run_dir, 7).fullmatch(out[-1])
    err = result.stderr.splitlines()
    assert err[0].startswith("error: module 'flaky' (step at tick 2) exited with code 3")
    assert err[1:3] == ["    | reading input.csv", "    | boom: no such column"]
    assert err[3].startswith(f"(full log: {run_dir}/03/stderr_")
    assert err[4:] == [f"to continue the run: simba run --resume {run_dir}"]
    resumed = run_cli("run", "--resume", run_dir, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert outcome_pattern("success", run_dir, 28).fullmatch(resumed.stdout.splitlines()[-1])


def test_json_keeps_stdout_for_the_summary_and_tells_the_outcome_on_stderr(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """--json: stdout is the summary only; the outcome line ends stderr."""
    source = scenario(write_scenario, tmp_path / "counter", sleep=0)
    result = run_cli("run", source, "-o", "runs", "--run-id", "j", "--json", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("{") and result.stdout.rstrip().endswith("}")
    err = result.stderr.splitlines()
    assert outcome_pattern("failed", tmp_path / "runs" / "j", 7).fullmatch(err[-1])
    assert sum("boom: no such column" in line for line in err) == 1


def test_an_interrupted_run_says_so_and_how_to_continue(
    write_scenario: Callable[..., Path], tmp_path: Path
) -> None:
    """Ctrl-C: the signal's message (with the command to continue) once, then the outcome."""
    source = healthy(write_scenario, tmp_path, sleep=0.3)
    run_dir = tmp_path / "runs" / "i"
    status, text = in_terminal(
        ["run", str(source), "-o", "runs", "--run-id", "i"], tmp_path, interrupt_after="tick 2 "
    )
    lines = screen_lines(text)
    assert status == 130, text
    assert lines[-2] == (
        f"error: stopped by SIGINT; the run can be continued with 'simba run --resume {run_dir}'"
    )
    assert re.fullmatch(
        r"run interrupted: \d+/28 calls in .* -> " + re.escape(str(run_dir)), lines[-1]
    )
    assert not any(line.startswith("to continue the run") for line in lines)
