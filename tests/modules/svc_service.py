#!/usr/bin/env python3
"""A Station-style service module whose behaviour is chosen by environment variables.

It serves ``GET /`` (JSON stats: ``jobsCompleted``) and ``POST /job`` (counts a job) on a
free loopback port and prints ``API: <url>`` on stdout.  At start it writes
``$STATE_ROOT/start.json`` (its environment's directories and their modes).

- ``SVC_API_DELAY``: seconds to wait before the API line;
- ``SVC_NO_API=1``: never print the API line (keeps running);
- ``SVC_BAD_API=1``: print ``API: not-a-url`` instead;
- ``SVC_SPLIT=1``: write the API line in three pieces, 0.1 s apart;
- ``SVC_SAY``: lines to print after the API line, separated by ``|``; a line starting
  with ``!`` goes to stderr without the ``!``;
- ``SVC_SPAM``: print this many numbered 100-byte lines after the API line;
- ``SVC_EXIT_BEFORE_API``: print ``going down`` and exit with this code before the API line;
- ``SVC_CRASH_AFTER`` + ``SVC_CRASH_LINES``: that long after the API line, print that many
  numbered lines ``crash-line-NNN`` and exit with code ``SVC_CRASH_CODE`` (default 1), or
  kill itself with signal ``SVC_CRASH_SIGNAL`` (a name, e.g. SIGKILL) if that is set;
- ``SVC_JOBS``: comma-separated answers for successive ``GET /``: a number is the
  jobsCompleted, ``E`` an HTTP 500, ``J`` a body that is not JSON, ``D`` JSON nested
  100,000 deep; the last one repeats.
  Without it, ``GET /`` answers the number of ``POST /job`` requests;
- ``SVC_ON_TERM``: ``record`` -- on SIGTERM write ``$STATE_ROOT/terminated`` (with the
  names of files ``SVC_WATCH`` lists that exist then) and exit 0; ``ignore`` -- ignore it.
"""

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

env = os.environ
state = Path(env["STATE_ROOT"])
jobs = {"posted": 0, "gets": 0}
script = [item.strip() for item in env.get("SVC_JOBS", "").split(",") if item.strip()]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        answer = None
        if script:
            answer = script[min(jobs["gets"], len(script) - 1)]
            jobs["gets"] += 1
        if answer == "E":
            self.send_error(500, "scripted failure")
            return
        body = (
            b"this is not JSON"
            if answer == "J"
            else b"[" * 100_000 + b"]" * 100_000
            if answer == "D"
            else json.dumps(
                {"jobsCompleted": int(answer) if answer is not None else jobs["posted"]}
            ).encode()
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        jobs["posted"] += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def on_term(signum, frame):
    watched = [name for name in env.get("SVC_WATCH", "").split(",") if name and Path(name).exists()]
    (state / "terminated").write_text(json.dumps({"watched": watched}))
    sys.stdout.flush()
    os._exit(0)


def main():
    if env.get("SVC_ON_TERM") == "record":
        signal.signal(signal.SIGTERM, on_term)
    elif env.get("SVC_ON_TERM") == "ignore":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    directories = {
        key: {"path": env.get(key), "mode": oct(Path(env[key]).stat().st_mode & 0o777)}
        for key in ("STATE_ROOT", "CACHE_ROOT", "ROOT_DIR")
        if key in env
    }
    passed = {key: env.get(key) for key in ("SVC_EXTRA", "FIL_WALLET_ADDRESS", "SIMBA_RUN_DIR")}
    (state / "start.json").write_text(json.dumps({"directories": directories, "env": passed}))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # The server thread must not take SIGTERM: the kernel may hand a process's signal to
    # any thread, and Python runs its handler only when the main thread wakes.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    url = f"http://127.0.0.1:{server.server_address[1]}"
    time.sleep(float(env.get("SVC_API_DELAY", "0")))
    if "SVC_EXIT_BEFORE_API" in env:
        print("going down", flush=True)
        os._exit(int(env["SVC_EXIT_BEFORE_API"]))
    if env.get("SVC_BAD_API") == "1":
        print("API: not-a-url", flush=True)
    elif env.get("SVC_SPLIT") == "1":
        line = f"API: {url}\n"
        for piece in (line[:2], line[2:9], line[9:]):
            sys.stdout.write(piece)
            sys.stdout.flush()
            time.sleep(0.1)
    elif env.get("SVC_NO_API") != "1":
        print(f"API: {url}", flush=True)
    for line in filter(None, env.get("SVC_SAY", "").split("|")):
        if line.startswith("!"):
            print(line[1:], file=sys.stderr, flush=True)
        else:
            print(line, flush=True)
    for number in range(int(env.get("SVC_SPAM", "0"))):
        print(f"spam {number:06d} " + "x" * 88, flush=True)
    if "SVC_CRASH_AFTER" in env:
        time.sleep(float(env["SVC_CRASH_AFTER"]))
        for number in range(1, int(env.get("SVC_CRASH_LINES", "0")) + 1):
            print(f"crash-line-{number:03d}")
        sys.stdout.flush()
        if "SVC_CRASH_SIGNAL" in env:
            os.kill(os.getpid(), getattr(signal, env["SVC_CRASH_SIGNAL"]))
        os._exit(int(env.get("SVC_CRASH_CODE", "1")))
    while True:
        time.sleep(3600)


main()
