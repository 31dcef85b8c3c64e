"""The ``--api`` server under abuse: idle connections, a flood of them, odd methods.

A real ``simba run --api`` process serves while a module sleeps; the tests connect to it
as a careless or hostile client would, and read its thread count from ``/proc``.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_station import SCRIPTED, Station, driver, spawn

from simba.observers.status_server import CONNECTION_TIMEOUT, MAX_HANDLERS


@pytest.fixture
def station(write_scenario: Callable[..., Path], tmp_path: Path) -> Iterator[Station]:
    """A ``simba run --api`` whose module sleeps 60 s at tick 1; stopped with SIGTERM after."""
    entry = {"name": "m", "priority": 1, "command": SCRIPTED}
    entry["moduleData"] = {"onTick": 1, "sleep": 60}
    scenario = write_scenario([entry], driver(3))
    started = spawn(
        scenario, "--api", "-o", tmp_path / "runs", env={}, cwd=tmp_path, stderr=tmp_path / "err"
    )
    try:
        yield started
    finally:
        started.process.send_signal(signal.SIGTERM)
        started.wait()


def threads(pid: int) -> int:
    """The number of threads of process ``pid``."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("Threads:")[1].split()[0])


def address(station: Station) -> tuple[str, int]:
    host, _, port = station.api.removeprefix("http://").rpartition(":")
    return host, int(port)


def request(station: Station, method: str, path: str = "/") -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection(*address(station), timeout=10)
    connection.request(method, path)
    return connection.getresponse()


def test_idle_connections_hold_few_threads_and_are_closed(station: Station) -> None:
    """500 silent connections: at most MAX_HANDLERS threads, 503 beyond, all closed in time."""
    assert request(station, "GET").status == 200  # the server and the run are going
    before = threads(station.process.pid)
    idle = [socket.create_connection(address(station), timeout=30) for _ in range(500)]
    try:
        time.sleep(0.5)
        assert threads(station.process.pid) - before <= MAX_HANDLERS
        # Fill the handlers again, in case opening 500 connections on a loaded machine took
        # so long that the first ones were already closed for their silence.
        idle += [
            socket.create_connection(address(station), timeout=30) for _ in range(MAX_HANDLERS)
        ]
        busy = request(station, "GET")
        assert busy.status == 503 and busy.getheader("Retry-After") == "1"
        assert "busy" in json.loads(busy.read())["error"]
        busy.close()
        started = time.monotonic()
        assert idle[0].recv(100) == b"", "the server kept a silent connection open"
        assert time.monotonic() - started < CONNECTION_TIMEOUT + 5
    finally:
        for connection in idle:
            connection.close()
    deadline = time.monotonic() + CONNECTION_TIMEOUT + 5
    while threads(station.process.pid) > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert threads(station.process.pid) <= before
    served = request(station, "GET")
    assert served.status == 200 and json.loads(served.read())["state"] == "running"


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "PUT", "DELETE", "BREW"])
def test_every_method_but_get_is_405_json(station: Station, method: str) -> None:
    """Any method but GET: 405, Allow: GET, JSON (no body for HEAD), never an HTML page."""
    answer = request(station, method)
    body = answer.read()
    assert answer.status == 405
    assert answer.getheader("Allow") == "GET"
    assert answer.getheader("Content-Type") == "application/json"
    if method == "HEAD":
        assert body == b""
    else:
        assert "read-only" in json.loads(body)["error"]


def test_bad_request_is_a_json_error(station: Station) -> None:
    """A request with too many headers gets a JSON 431, not an HTML page."""
    with socket.create_connection(address(station), timeout=10) as connection:
        connection.sendall(b"GET / HTTP/1.0\r\n" + b"X-A: b\r\n" * 101 + b"\r\n")
        answer = connection.makefile("rb").read()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 431")
    assert b"application/json" in head
    assert json.loads(body)["error"]
