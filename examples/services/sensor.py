#!/usr/bin/env python3
"""A thermometer as a SIMBA module: one reading per day, written to the ``kv`` service.

The reading for day d is a seasonal curve plus a fixed wobble (no randomness, so runs
repeat exactly).  It goes to ``PUT <kv>/kv/reading/<date>``; the URL of the store comes
from the config document, ``services.kv.api``.
"""

from __future__ import annotations

import json
import math
import urllib.request

from simba.module import Context, Module

# The store is on this machine: never send its requests through an HTTP proxy.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Sensor(Module):
    def step(self, ctx: Context) -> None:
        day = ctx.current_time.timetuple().tm_yday
        reading = 10 - 8 * math.cos(2 * math.pi * day / 365) + 2 * math.sin(day * 1.7)
        request = urllib.request.Request(
            f"{ctx.services['kv']['api']}/kv/reading/{ctx.current_time.date()}",
            data=json.dumps(round(reading, 2)).encode(),
            method="PUT",
            headers=ctx.service_headers("kv"),
        )
        OPENER.open(request, timeout=10).close()
        ctx.module_data["readings"] = ctx.module_data.get("readings", 0) + 1


if __name__ == "__main__":
    Sensor.main()
