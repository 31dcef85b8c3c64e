#!/usr/bin/env python3
"""The HELICS side of the peers benchmark: a ZMQ broker and two federate processes.

Usage (the interpreter of benchmarks/.venv-helics): ``python helics_peers.py N``.
Prints the reader's line ``{"seconds": ..., "seen": ...}``.
"""

import subprocess
import sys
import time
from pathlib import Path

import helics as h


def main() -> None:
    steps = sys.argv[1]
    broker = h.helicsCreateBroker("zmq", "", "--federates=2")
    peer = str(Path(__file__).resolve().with_name("helics_peer.py"))
    publisher = subprocess.Popen([sys.executable, peer, "publish", steps])
    reader = subprocess.Popen([sys.executable, peer, "read", steps], stdout=subprocess.PIPE)
    out, _ = reader.communicate()
    publisher.wait()
    while h.helicsBrokerIsConnected(broker):
        time.sleep(0.05)
    h.helicsCloseLibrary()
    sys.stdout.write(out.decode())
    sys.exit(publisher.returncode or reader.returncode)


if __name__ == "__main__":
    main()
