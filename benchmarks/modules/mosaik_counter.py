#!/usr/bin/env python3
"""A trivial mosaik 3 simulator for the benchmarks: counts its steps (time-based, step 1).

mosaik starts it as ``python mosaik_counter.py HOST:PORT`` and talks to it over that
loopback TCP connection.  At shutdown it writes its step count to the file named by the
``count_file`` simulator parameter, so the benchmark can check that every step ran.
"""

from pathlib import Path

import mosaik_api_v3

META = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {"Counter": {"public": True, "params": [], "attrs": ["steps"]}},
}


class Counter(mosaik_api_v3.Simulator):
    def __init__(self):
        super().__init__(META)
        self.steps = 0
        self.count_file = None

    def init(self, sid, time_resolution=1.0, count_file=None):
        self.count_file = count_file
        return self.meta

    def create(self, num, model):
        return [{"eid": f"counter{i}", "type": model} for i in range(num)]

    def step(self, time, inputs, max_advance):
        self.steps += 1
        return time + 1

    def get_data(self, outputs):
        return {eid: {"steps": self.steps} for eid in outputs}

    def finalize(self):
        if self.count_file:
            Path(self.count_file).write_text(str(self.steps), encoding="utf-8")


if __name__ == "__main__":
    mosaik_api_v3.start_simulation(Counter(), configure_logging=False)
