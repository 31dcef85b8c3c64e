#!/usr/bin/env python3
"""A service with a clean shutdown that takes a while (for the stop tests of issue 14).

It serves ``GET /`` with ``jobsCompleted`` (starting at ``SVC_JOBS0``, default 3) and
prints ``API: <url>``.  On SIGTERM it keeps serving, finishes one more job after
``SVC_STOP_SECONDS`` (default 1) so that ``jobsCompleted`` grows while it stops, serves
that for 0.3 s, writes ``$STATE_ROOT/clean`` and exits 0.  Run behind ``sh -c`` it is a
worker whose wrapper dies at once on SIGTERM.
"""

import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

jobs = int(os.environ.get("SVC_JOBS0", "3"))
stopping = threading.Event()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"jobsCompleted": jobs}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # a job (svc_client.py posts one per call): not counted
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
# The server thread must not take SIGTERM: the kernel may hand a process's signal to any
# thread, and Python runs its handler only when the main thread wakes.
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
threading.Thread(target=server.serve_forever, daemon=True).start()
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
print(f"API: http://127.0.0.1:{server.server_address[1]}/", flush=True)
stopping.wait()
time.sleep(float(os.environ.get("SVC_STOP_SECONDS", "1")))
jobs += 1
time.sleep(0.3)
Path(os.environ["STATE_ROOT"], "clean").write_text("done\n")
print("INFO: stopped cleanly", flush=True)
