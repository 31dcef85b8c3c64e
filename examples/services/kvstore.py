#!/usr/bin/env python3
"""A small key-value store with an HTTP API: a SIMBA ``service`` module (Station style).

Standard library only.  It binds a free loopback port and prints ``API: <url>`` at once
(the Station module interface asks for it within 500 ms), then serves:

- ``GET /``: ``{"jobsCompleted": <writes so far>, "keys": <number of keys>}``;
- ``GET /kv/<key>``: the JSON value stored under the key (404 if there is none);
- ``GET /kv/?prefix=<p>``: ``{key: value}`` of every key that starts with ``p``;
- ``PUT /kv/<key>``: store the JSON body under the key (one job).

Every request must carry the run's key (``Authorization: Bearer <key>``, the key file
named by ``SIMBA_SERVICE_KEY_FILE``); one without it is refused with 401.  In a container
it listens on ``$SIMBA_SERVICE_PORT`` on all of the container's interfaces (SIMBA
publishes that port on the host's 127.0.0.1 only).

Everything lives in ``$STATE_ROOT/store.json``, rewritten atomically after every write,
so a restarted store (``simba run --resume``) still has its data and its count, and
``jobsCompleted`` never goes down.  It logs ``INFO:`` lines for what it does and an
``ERROR:`` line for a request it rejects; SIGTERM makes it save and exit.
"""

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from simba.module import authorized

STORE = Path(os.environ["STATE_ROOT"]) / "store.json"
MAX_BODY = 1 << 20


class Store:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        saved = json.loads(path.read_text()) if path.exists() else {}
        self.data = saved.get("data", {})
        self.jobs = saved.get("jobsCompleted", 0)

    def put(self, key, value):
        with self.lock:
            self.data[key] = value
            self.jobs += 1
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps({"data": self.data, "jobsCompleted": self.jobs}))
            temporary.replace(self.path)

    def stats(self):
        with self.lock:
            return {"jobsCompleted": self.jobs, "keys": len(self.data)}


class Handler(BaseHTTPRequestHandler):
    store = None

    def refused(self):
        """Whether the request lacks the run's key (and has been answered with 401)."""
        if authorized(self.headers):
            return False
        print(f"ERROR: refused {self.command} {self.path}: no valid key", flush=True)
        self.answer(401, {"error": "send the run's key: Authorization: Bearer <key>"})
        return True

    def do_GET(self):
        if self.refused():
            return
        url = urlsplit(self.path)
        if url.path == "/":
            self.answer(200, self.store.stats())
        elif url.path == "/kv/":
            prefix = parse_qs(url.query).get("prefix", [""])[0]
            with self.store.lock:
                found = {k: v for k, v in self.store.data.items() if k.startswith(prefix)}
            self.answer(200, found)
        elif url.path.startswith("/kv/"):
            key = unquote(url.path[4:])
            with self.store.lock:
                present, value = key in self.store.data, self.store.data.get(key)
            self.answer(200, value) if present else self.answer(404, {"error": f"no key {key}"})
        else:
            self.answer(404, {"error": "unknown path"})

    def do_PUT(self):
        if self.refused():
            return
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if not url.path.startswith("/kv/") or len(url.path) == 4 or length > MAX_BODY:
            print(f"ERROR: rejected PUT {url.path}", flush=True)
            self.answer(400, {"error": "PUT /kv/<key> with a JSON body of at most 1 MiB"})
            return
        try:
            value = json.loads(self.rfile.read(length))
        except ValueError:
            print(f"ERROR: PUT {url.path}: the body is not JSON", flush=True)
            self.answer(400, {"error": "the body is not JSON"})
            return
        self.store.put(unquote(url.path[4:]), value)
        self.answer(204, None)

    def answer(self, code, document):
        body = b"" if document is None else json.dumps(document).encode()
        self.send_response(code)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        print(f"{self.address_string()} {format % args}", file=sys.stderr, flush=True)


def main():
    Handler.store = Store(STORE)
    port = os.environ.get("SIMBA_SERVICE_PORT")  # in a container: published on 127.0.0.1
    server = ThreadingHTTPServer(("0.0.0.0" if port else "127.0.0.1", int(port or 0)), Handler)
    print(f"API: http://127.0.0.1:{server.server_address[1]}", flush=True)
    print(f"INFO: serving {len(Handler.store.data)} keys from {STORE}", flush=True)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        server.serve_forever()
    finally:
        print(f"INFO: stopping after {Handler.store.stats()['jobsCompleted']} writes", flush=True)


main()
