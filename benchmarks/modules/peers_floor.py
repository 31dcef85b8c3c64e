#!/usr/bin/env python3
"""The floor of the peers benchmark (benchmarks/scale.py): no driver at all.

A bare loop speaks the inline protocol to the same two SDK modules SIMBA runs
(``peer_sdk.py publish`` and ``read``): per step it sends A its config line, reads A's
``STATUS:`` line, passes A's value on in B's config line and reads B's answer, looking
for each answer without sleeping (as SIMBA does).  It keeps no record, writes no file
and checks nothing: what any driver that calls two module processes in turn over pipes
takes at least, with these modules, on this machine.

Usage: ``peers_floor.py STEPS``; prints ``{"seconds": S, "seen": N}`` (the time of the
exchange loop and the steps B saw A's value of the same step).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def start(role: str) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "SIMBA_MODULE_MODE": "resident"}
    environment["SIMBA_MODULE_PROTOCOL"] = "inline"
    command = [sys.executable, str(HERE / "peer_sdk.py"), role]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environment
    )
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    return process


def call(process: subprocess.Popen[bytes], document: dict[str, object]) -> dict[str, object]:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(document, separators=(",", ":")).encode() + b"\n")
    process.stdin.flush()
    fd, answer = process.stdout.fileno(), b""
    while not answer.endswith(b"\n"):
        try:
            answer += os.read(fd, 65536)
        except BlockingIOError:
            continue
    status: dict[str, object] = json.loads(answer[len(b"STATUS:") :])
    return status


def config(tick: int, common: dict[str, object], module: dict[str, object]) -> dict[str, object]:
    return {
        "mode": "step",
        "statusFile": "/nonexistent/status.json",
        "outputDirectory": "/nonexistent",
        "tickFormat": "{:04d}",
        "currentTick": tick,
        "currentTime": f"2024-01-01T00:00:{tick % 60:02d}",
        "lastRunTick": tick - 1,
        "lastRunTime": "2024-01-01T00:00:00",
        "targetTick": tick + 1,
        "targetTime": "2024-01-01T00:00:01",
        "commonData": common,
        "moduleData": module,
    }


def main() -> None:
    steps = int(sys.argv[1])
    publisher, reader = start("publish"), start("read")
    common: dict[str, object] = {"value": None}
    module: dict[str, object] = {}
    started = time.perf_counter()
    for tick in range(steps):
        answer = call(publisher, config(tick, common, {}))
        common = {**common, **answer.get("commonData", {})}  # type: ignore[dict-item]
        answer = call(reader, config(tick, common, module))
        module = answer.get("moduleData", module)  # type: ignore[assignment]
    seconds = time.perf_counter() - started
    for process in (publisher, reader):
        assert process.stdin is not None
        process.stdin.close()
        process.wait()
    print(json.dumps({"seconds": seconds, "seen": module.get("seen", 0)}))


if __name__ == "__main__":
    main()
