"""SIMBA as a Station / Checker module (DESIGN §9): the read-only status API.

``simba run --api [HOST:PORT]`` calls :func:`listen` first thing, before the heavy
imports: it binds a listening socket (default 127.0.0.1 and a free port; another
address only when asked) and the CLI prints ``API: http://HOST:PORT/`` as its first
stdout line (with the slash: Saturn-era hosts build ``apiUrl + 'stats'``).
Connections queue on that socket until :class:`ApiServer` serves it from a daemon
thread.  ``GET /`` (and ``GET /stats``, the same) answers JSON::

    {"jobsCompleted": 12, "tick": 5, "finalTick": 10,
     "simulatedTime": "2024-01-06T00:00:00", "state": "running"}

``state`` is ``starting``, ``running``, ``finished``, ``failed`` or ``interrupted``.
``jobsCompleted`` counts successful calls, including those of earlier drivers of the
same run, so it never goes down across ``--resume``.  Until the run has worked out
that count (it loads the scenario and the checkpoint first), a request waits for it,
up to :data:`STARTUP_WAIT` seconds, then gets status 503.  Nothing else is served and
nothing can be changed; the answer holds no paths, no environment and no secrets.
Every other method (``HEAD`` and ``OPTIONS`` too) gets 405 with ``Allow: GET`` and a
JSON body (``HEAD``: the headers only); every error is JSON, never an HTML page.

The server cannot be worn down: at most :data:`MAX_HANDLERS` connections are served
at once (one thread each); one more is answered 503 with ``Retry-After`` at once and
closed, and a connection that sends no complete request within
:data:`CONNECTION_TIMEOUT` seconds is closed.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from typing import Any

DEFAULT_HOST = "127.0.0.1"
#: The value of a bare ``--api``: the default host and any free port.
DEFAULT_ADDRESS = f"{DEFAULT_HOST}:0"
#: Longest a request waits for the run to know its ``jobsCompleted``.
STARTUP_WAIT = 10.0
#: Most connections served at once (a thread each); more are answered 503 at once.
MAX_HANDLERS = 16
#: Seconds a connection may take to send its request (or to take the answer) before it is closed.
CONNECTION_TIMEOUT = 5.0

#: The paths that answer the status (``/stats``: hosts that append ``stats`` to the URL).
PATHS = ("/", "/stats")

_ADDRESS = re.compile(r"(?P<host>\[[0-9A-Fa-f:.%\w]+\]|[A-Za-z0-9.-]*):(?P<port>\d{1,5})")


def looks_like_address(text: str) -> bool:
    """Whether ``text`` is written as ``HOST:PORT``, ``[IPv6]:PORT`` or ``:PORT``."""
    return _ADDRESS.fullmatch(text) is not None


def parse_address(text: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT`` (host default 127.0.0.1, port 0 = any free one)."""
    match = _ADDRESS.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not HOST:PORT (for example 127.0.0.1:8080 or :8080)")
    host, port = match["host"].strip("[]") or DEFAULT_HOST, int(match["port"])
    if port > 65535:
        raise ValueError(f"port {port} is out of range (0..65535)")
    return host, port


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``; raises ``OSError`` if it cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    """``http://HOST:PORT/`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class StatusBoard:
    """What ``GET /`` answers: written by the station observer, read by the server threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known = threading.Event()
        self._status: dict[str, Any] = {
            "jobsCompleted": None,
            "tick": None,
            "finalTick": None,
            "simulatedTime": None,
            "state": "starting",
        }

    def update(self, **fields: Any) -> None:
        """Change some of the keys; ``jobsCompleted`` may only grow."""
        with self._lock:
            jobs = fields.get("jobsCompleted")
            current = self._status["jobsCompleted"]
            if jobs is not None and current is not None and jobs < current:
                fields["jobsCompleted"] = current
            self._status.update(fields)
            if self._status["jobsCompleted"] is not None or self._status["state"] == "failed":
                self._known.set()

    def snapshot(self, wait: float = 0.0) -> tuple[dict[str, Any], bool]:
        """The status, and whether ``jobsCompleted`` is known (waiting up to ``wait`` s)."""
        known = self._known.wait(wait)
        with self._lock:
            return dict(self._status), known and self._status["jobsCompleted"] is not None


class ApiServer:
    """Serves a :class:`StatusBoard` on an already listening socket, from a daemon thread."""

    def __init__(self, sock: socket.socket, board: StatusBoard) -> None:
        from http.server import ThreadingHTTPServer

        handler = _handler(board)
        slots = threading.BoundedSemaphore(MAX_HANDLERS)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def process_request(self, request: Any, client_address: Any) -> None:
                if not slots.acquire(blocking=False):  # all busy: say so, hold nothing
                    _busy(request)
                    self.shutdown_request(request)
                    return
                try:
                    super().process_request(request, client_address)
                except BaseException:
                    slots.release()
                    raise

            def process_request_thread(self, request: Any, client_address: Any) -> None:
                try:
                    super().process_request_thread(request, client_address)
                finally:
                    slots.release()

        self._server = Server(sock.getsockname()[:2], handler, bind_and_activate=False)
        self._server.socket.close()
        self._server.socket = sock
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="simba-api",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()


def _handler(board: StatusBoard) -> Any:
    """The request handler class serving ``board``."""
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        server_version = "simba"
        sys_version = ""
        timeout = CONNECTION_TIMEOUT

        def do_GET(self) -> None:
            if self.path.partition("?")[0] not in PATHS:
                self._answer(404, {"error": "not found; GET / gives the status"})
                return
            status, known = board.snapshot(STARTUP_WAIT)
            self._answer(200 if known else 503, status)

        def _refuse(self) -> None:
            self._answer(405, {"error": "read-only; GET / gives the status"}, allow="GET")

        def __getattr__(self, name: str) -> Any:
            if name.startswith("do_"):  # any method but GET, also HEAD, OPTIONS, BREW
                return self._refuse
            raise AttributeError(name)

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            """A malformed or oversized request: the same JSON as every other answer."""
            self.close_connection = True
            short = message or self.responses.get(code, ("error",))[0]
            self._answer(code, {"error": short})

        def _answer(self, code: int, document: Any, allow: str | None = None) -> None:
            body = json.dumps(document).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            if allow:
                self.send_header("Allow", allow)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # stdout is for INFO:/ERROR: lines, and a request is not worth a line

    return Handler


_BUSY_BODY = b'{"error": "busy; try again in a second"}'
#: The answer to a connection beyond :data:`MAX_HANDLERS`.
_BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nServer: simba\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n"
    + f"Content-Length: {len(_BUSY_BODY)}\r\n\r\n".encode()
    + _BUSY_BODY
)


def _busy(request: socket.socket) -> None:
    """Answer 503 without reading the request; never wait for the client."""
    try:
        request.setblocking(False)
        request.send(_BUSY)
    except OSError:
        pass
