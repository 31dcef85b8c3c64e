#!/usr/bin/env python3
"""The mosaik side of the peers benchmark: two ``cmd`` simulators, A publishes, B reads.

Usage (the interpreter of benchmarks/.venv-mosaik): ``python mosaik_peers.py N WORKDIR``.
Each simulator is its own process on loopback TCP.  Prints one line:
``{"seconds": <time of world.run>, "seen": <steps in which B saw A's value of that step>}``.
"""

import json
import sys
import time
from pathlib import Path

import mosaik
from mosaik_world import free_port  # this directory is on sys.path: run as a script


def main() -> None:
    steps, workdir = int(sys.argv[1]), Path(sys.argv[2])
    peer = Path(__file__).resolve().with_name("mosaik_peer.py")
    command = {"cmd": f"{sys.executable} {peer} %(addr)s"}
    world = mosaik.World(
        {"A": command, "B": command},
        mosaik_config={"addr": ("127.0.0.1", free_port())},
        skip_greetings=True,
        configure_logging=False,
    )
    count_file = workdir / "seen.txt"
    publisher = world.start("A").Publisher()
    reader = world.start("B", count_file=str(count_file)).Reader()
    world.connect(publisher, reader, "value")
    started = time.perf_counter()
    world.run(until=steps, print_progress=False)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "seen": int(count_file.read_text())}))


if __name__ == "__main__":
    main()
