#!/usr/bin/env python3
"""Misbehaves in the way its first argument names, for the tests of what must never hang or leak.

Usage: hostile.py ACTION CONFIG.  ACTION:

``fifo-status``
    puts a named pipe where its status file goes, and exits 0;
``fifo-stderr``
    puts a named pipe where its stderr log goes (SIMBA makes the file on the first byte),
    and exits 3;
``fifo-stdout``
    puts a named pipe where its stdout log goes, prints a line, and sleeps 60 s;
``wait``, ``tidy``, ``rewrite``, ``link``
    waits until another module's config has appeared in its call directory (written
    ahead while this module runs; exits 4 if none does within 10 s), then ``tidy``
    removes the directory and makes it again, ``rewrite`` writes ``{"mode": "rewritten"}``
    into those configs, ``link`` replaces each by a symbolic link to the file
    ``decoy.json`` beside the run directory; then it succeeds;
``daemon``
    starts a daemon in a session of its own that appends a line to ``daemon.log`` in
    the run directory every 50 ms for 30 s (ignoring SIGTERM with ``hostile.py daemon
    stubborn CONFIG``), writes its pid to ``daemon.pid`` there (only the first call
    starts one), and succeeds;
``daemon-then-fail``
    the same, then exits 3;
``daemon-then-hang``
    the same, then sleeps 60 s.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

DAEMON = """
import signal, sys, time
if sys.argv[2] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
end = time.monotonic() + 30
while time.monotonic() < end:
    with open(sys.argv[1], "a") as log:
        log.write("still here\\n")
    time.sleep(0.05)
"""


def others(directory: Path, own: Path) -> list[Path]:
    """The configs of other calls in ``directory``, once one has appeared (10 s at most)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [p for p in directory.glob("module_*.json") if p.name != own.name]
        if found:
            return found
        time.sleep(0.005)
    sys.exit(4)


def daemon(run_dir: Path, stubborn: bool) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            DAEMON,
            str(run_dir / "daemon.log"),
            "stubborn" if stubborn else "plain",
        ],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    (run_dir / "daemon.pid").write_text(f"{process.pid}\n")
    while not (run_dir / "daemon.log").exists():  # it runs before this module returns
        time.sleep(0.01)


def main() -> int:
    action, config_path = sys.argv[1], Path(sys.argv[-1])
    config = json.loads(config_path.read_text(encoding="utf-8"))
    status, directory = Path(config["statusFile"]), config_path.parent
    run_dir = Path(config["outputDirectory"])
    if action == "fifo-status":
        os.mkfifo(status)
        return 0
    number = config_path.stem.partition("_")[2]
    if action == "fifo-stderr":
        os.mkfifo(directory / f"stderr_{number}")
        return 3
    if action == "fifo-stdout":
        os.mkfifo(directory / f"stdout_{number}")
        print("hello", flush=True)
        time.sleep(60)
    if action in ("wait", "tidy", "rewrite", "link"):
        found = others(directory, config_path)
        if action == "tidy":
            shutil.rmtree(directory)
            directory.mkdir()
        for path in found if action in ("rewrite", "link") else ():
            if action == "rewrite":
                path.write_text('{"mode": "rewritten"}\n', encoding="utf-8")
            else:
                path.unlink()
                path.symlink_to(run_dir.parent / "decoy.json")
    elif action.startswith("daemon"):
        if not (run_dir / "daemon.pid").exists():
            daemon(run_dir, stubborn=sys.argv[2:3] == ["stubborn"])
        if action == "daemon-then-fail":
            return 3
        if action == "daemon-then-hang":
            time.sleep(60)
    status.write_text('{"status": "success"}', encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
