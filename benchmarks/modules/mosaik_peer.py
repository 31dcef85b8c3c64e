#!/usr/bin/env python3
"""A mosaik 3 simulator for the peers benchmark: ``Publisher`` or ``Reader`` (time-based).

The publisher's entity outputs ``value`` = the step's time; the reader's entity takes it as
input and counts the steps that saw the value of that step; at shutdown it writes the count
to the ``count_file`` simulator parameter, so the benchmark checks every exchange.
"""

from pathlib import Path

import mosaik_api_v3

META = {
    "api_version": "3.0",
    "type": "time-based",
    "models": {
        "Publisher": {"public": True, "params": [], "attrs": ["value"]},
        "Reader": {"public": True, "params": [], "attrs": ["value"]},
    },
}


class Peer(mosaik_api_v3.Simulator):
    def __init__(self):
        super().__init__(META)
        self.time = 0
        self.seen = 0
        self.count_file = None

    def init(self, sid, time_resolution=1.0, count_file=None):
        self.count_file = count_file
        return self.meta

    def create(self, num, model):
        return [{"eid": f"{model}{i}", "type": model} for i in range(num)]

    def step(self, time, inputs, max_advance):
        self.time = time
        for values in inputs.values():
            if list(values.get("value", {}).values()) == [time]:
                self.seen += 1
        return time + 1

    def get_data(self, outputs):
        return {eid: {"value": self.time} for eid in outputs}

    def finalize(self):
        if self.count_file:
            Path(self.count_file).write_text(str(self.seen), encoding="utf-8")


if __name__ == "__main__":
    mosaik_api_v3.start_simulation(Peer(), configure_logging=False)
