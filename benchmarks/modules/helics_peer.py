#!/usr/bin/env python3
"""A HELICS value federate for the peers benchmark (ZMQ core, its own process).

``helics_peer.py publish N``: publishes ``value`` = t at each time t = 1..N.
``helics_peer.py read N``: subscribes to it, requests each time t = 1..N, counts the steps
that saw the value of that step, and prints ``{"seconds": ..., "seen": ...}`` (the time
from entering executing mode to the last step).
"""

import json
import sys
import time

import helics as h


def main() -> None:
    role, steps = sys.argv[1], int(sys.argv[2])
    info = h.helicsCreateFederateInfo()
    h.helicsFederateInfoSetCoreTypeFromString(info, "zmq")
    h.helicsFederateInfoSetCoreInitString(info, "--federates=1")
    h.helicsFederateInfoSetTimeProperty(info, h.helics_property_time_delta, 1.0)
    federate = h.helicsCreateValueFederate(role, info)
    if role == "publish":
        pub = h.helicsFederateRegisterGlobalTypePublication(federate, "value", "double", "")
    else:
        sub = h.helicsFederateRegisterSubscription(federate, "value", "")
    h.helicsFederateEnterExecutingMode(federate)
    started = time.perf_counter()
    seen = 0
    for t in range(1, steps + 1):
        if role == "publish":
            h.helicsFederateRequestTime(federate, t)
            h.helicsPublicationPublishDouble(pub, float(t))
        else:
            granted = h.helicsFederateRequestTime(federate, t)
            if h.helicsInputGetDouble(sub) == granted - 1:
                seen += 1
    seconds = time.perf_counter() - started
    h.helicsFederateDisconnect(federate)
    h.helicsFederateFree(federate)
    h.helicsCloseLibrary()
    if role == "read":
        print(json.dumps({"seconds": seconds, "seen": seen}))


if __name__ == "__main__":
    main()
