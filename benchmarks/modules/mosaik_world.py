#!/usr/bin/env python3
"""The mosaik side of benchmark (g): run mosaik_counter.py for N steps, print JSON.

Usage (with the interpreter of benchmarks/.venv-mosaik): ``python mosaik_world.py N WORKDIR``.
The simulator runs as its own process (mosaik's ``cmd`` starter), connected over loopback
TCP on a free port, as SIMBA's resident module is its own process.  Prints one line:
``{"seconds": <time of world.run>, "steps": <steps the simulator counted>}``.
"""

import json
import socket
import sys
import time
from pathlib import Path

import mosaik


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    steps, workdir = int(sys.argv[1]), Path(sys.argv[2])
    simulator = Path(__file__).resolve().with_name("mosaik_counter.py")
    sim_config = {"Counter": {"cmd": f"{sys.executable} {simulator} %(addr)s"}}
    world = mosaik.World(
        sim_config,
        mosaik_config={"addr": ("127.0.0.1", free_port())},
        skip_greetings=True,
        configure_logging=False,
    )
    count_file = workdir / "steps.txt"
    counter = world.start("Counter", count_file=str(count_file))
    counter.Counter()
    started = time.perf_counter()
    world.run(until=steps, print_progress=False)  # also shuts the simulator down
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "steps": int(count_file.read_text())}))


if __name__ == "__main__":
    main()
