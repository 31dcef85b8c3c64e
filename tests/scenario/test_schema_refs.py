"""A package's moduleDataSchema is checked without network or file access, and in bounded time."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES

from simba import schemas
from simba.packages.pack import pack
from simba.packages.store import install

Cli = Callable[..., subprocess.CompletedProcess[str]]

DRIVER = {
    "initialTime": "2024-01-01T00:00:00",
    "endTime": "P2D",
    "scheduleIntervals": [{"tickDuration": "P1D"}],
}


class Listener:
    """An HTTP server on 127.0.0.1 that records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener.requests.append(self.path)
                body = b'{"type": "object"}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def serve(self) -> None:
        self.server.serve_forever(poll_interval=0.05)


@pytest.fixture
def listener() -> Iterator[Listener]:
    """A live HTTP listener on localhost, stopped after the test."""
    served = Listener()
    thread = threading.Thread(target=served.serve, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()
    thread.join()


def _descriptor(schema: Any) -> dict[str, Any]:
    return {
        "namespace": "demo",
        "name": "refs",
        "version": "1.0.0",
        "command": "run.sh",
        "moduleDataSchema": schema,
    }


def _place_installed(home: Path, schema: Any) -> None:
    """Put a package into SIMBA_HOME by hand, as an older SIMBA (or a tamperer) could have."""
    directory = home / "modules" / "demo" / "refs" / "1.0.0"
    directory.mkdir(parents=True)
    (directory / "descriptor.json").write_text(json.dumps(_descriptor(schema)))
    (directory / ".simba-install.json").write_text(
        json.dumps({"sha256": "0" * 64, "archive": "demo-refs-1.0.0.zip"})
    )
    (directory / "run.sh").write_bytes((MODULES / "ok.sh").read_bytes())
    (directory / "run.sh").chmod(0o755)


def _scenario(tmp_path: Path, module_data: Any) -> Path:
    scenario = tmp_path / "scenario.json"
    entry = {"name": "m", "package": "demo/refs@1", "priority": 1, "moduleData": module_data}
    scenario.write_text(json.dumps({"driver": DRIVER, "schedule": [entry]}))
    return scenario


def _hostile_schemas(url: str) -> list[Any]:
    return [
        {"$ref": f"{url}/top.json"},
        {"type": "object", "properties": {"rate": {"$ref": f"{url}/rate.json"}}},
        {"$id": f"{url}/root.json", "properties": {"rate": {"$ref": "relative.json"}}},
        {"$dynamicRef": f"{url}/dynamic.json"},
        {"$ref": "file:///etc/passwd"},
    ]


@pytest.mark.parametrize("case", range(5))
def test_validate_and_run_fetch_nothing(
    tmp_path: Path, listener: Listener, simba_cli: Cli, case: int
) -> None:
    """An installed package whose schema refers to a URL or a file: exit 2, no request arrives."""
    home = tmp_path / "home"
    _place_installed(home, _hostile_schemas(listener.url)[case])
    scenario = _scenario(tmp_path, {"rate": 1})
    for command in ("validate", "run"):
        result = simba_cli(command, scenario, env={"SIMBA_HOME": str(home)})
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert "refers outside the schema" in result.stderr
        assert "moduleDataSchema." in result.stderr
    assert listener.requests == []
    assert not (tmp_path / "runs").exists()


def test_local_refs_and_foreign_ids_work_offline(
    tmp_path: Path, listener: Listener, simba_cli: Cli
) -> None:
    """'#/$defs/…' refs resolve, under an http $id and $schema, and nothing is fetched."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{listener.url}/root.json",
        "type": "object",
        "properties": {"rate": {"$ref": "#/$defs/rate"}},
        "$defs": {"rate": {"type": "number", "minimum": 0}},
    }
    sources = tmp_path / "src"
    sources.mkdir()
    (sources / "descriptor.json").write_text(json.dumps(_descriptor(schema)))
    (sources / "run.sh").write_bytes((MODULES / "ok.sh").read_bytes())
    (sources / "run.sh").chmod(0o755)
    home = tmp_path / "home"
    install(pack(sources, tmp_path).archive, home=home)
    env = {"SIMBA_HOME": str(home)}
    bad = simba_cli("validate", _scenario(tmp_path, {"rate": -1}), env=env)
    assert bad.returncode == 2
    assert "schedule[0].moduleData.rate" in bad.stderr and "at least 0" in bad.stderr
    good = simba_cli("run", _scenario(tmp_path, {"rate": 2}), "-o", tmp_path / "runs", env=env)
    assert good.returncode == 0, good.stderr
    assert listener.requests == []


def test_validation_refuses_to_retrieve(listener: Listener) -> None:
    """Validating against a schema with a remote $ref gives a problem and sends no request."""
    problems = schemas.validate_against(
        {"properties": {"a": {"$ref": f"{listener.url}/a.json"}}},
        {"a": 1},
        file="f.json",
        prefix="moduleData",
    )
    assert [p.path for p in problems] == ["moduleData"]
    assert "which SIMBA does not fetch" in problems[0].message
    assert listener.requests == []


def test_runaway_pattern_stopped_by_cpu_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pattern that backtracks without end is stopped after the CPU-time bound."""
    monkeypatch.setattr(schemas, "PACKAGE_SCHEMA_CPU_SECONDS", 0.5)
    started = time.monotonic()
    problems = schemas.validate_against(
        {"pattern": "^(a|aa)+$"}, "a" * 60 + "!", file="f.json", prefix="moduleData.name"
    )
    assert time.monotonic() - started < 10
    assert [p.path for p in problems] == ["moduleData.name"]
    assert "took more than 0.5 s of CPU time" in problems[0].message
    assert schemas.validate_against({"pattern": "^(a|aa)+$"}, "aaa", file="f", prefix="") == []


@pytest.mark.parametrize(
    ("ref", "message"),
    [("#/$defs/missing", "'#/$defs/missing', which is not in it"), ("#nowhere", "'#nowhere'")],
)
def test_dangling_local_ref_is_a_problem(
    tmp_path: Path, simba_cli: Cli, ref: str, message: str
) -> None:
    """A '#…' reference to nothing passes install but is a scenario problem, not a traceback."""
    home = tmp_path / "home"
    _place_installed(home, {"properties": {"rate": {"$ref": ref}}})
    result = simba_cli("validate", _scenario(tmp_path, {"rate": 1}), env={"SIMBA_HOME": str(home)})
    assert result.returncode == 2, result.stderr
    assert "schedule[0].moduleData" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr
