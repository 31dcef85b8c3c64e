"""Hostile or unusual packages: refused cleanly at pack and install, or handled as named."""

from __future__ import annotations

import json
import stat
import subprocess
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES
from hypothesis import given, settings
from hypothesis import strategies as st

from simba.errors import DescriptorError, PackageError
from simba.packages.archive import MAX_DEPTH
from simba.packages.pack import pack
from simba.packages.schema_rules import unsafe_pattern
from simba.packages.store import install, installed, remove, resolve

Cli = Callable[..., subprocess.CompletedProcess[str]]

DRIVER = {
    "initialTime": "2024-01-01T00:00:00",
    "endTime": "P2D",
    "scheduleIntervals": [{"tickDuration": "P1D"}],
}


def _descriptor(**fields: Any) -> dict[str, Any]:
    return {"namespace": "demo", "name": "tool", "version": "1.0.0", "command": "run.sh", **fields}


def _sources(directory: Path, **fields: Any) -> Path:
    """A module directory: descriptor.json (with ``fields``) and an executable run.sh."""
    directory.mkdir(parents=True)
    (directory / "descriptor.json").write_text(json.dumps(_descriptor(**fields)))
    (directory / "run.sh").write_bytes((MODULES / "ok.sh").read_bytes())
    (directory / "run.sh").chmod(0o755)
    return directory


def _info(name: str, mode: int = 0o644) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    entry.create_system = 3
    entry.external_attr = (stat.S_IFREG | mode) << 16
    return entry


def _archive(path: Path, descriptor: dict[str, Any], *extra: str) -> Path:
    """A package archive with ``descriptor``, run.sh and an entry for each name in ``extra``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_info("descriptor.json"), json.dumps(descriptor))
        archive.writestr(_info("run.sh", 0o755), (MODULES / "ok.sh").read_bytes())
        for name in extra:
            archive.writestr(_info(name), b"x")
    return path


# -- moduleDataSchema: no remote references, no runaway patterns ------------------------------

REMOTE = [
    ({"$ref": "http://127.0.0.1:9/x.json"}, "moduleDataSchema.$ref"),
    ({"properties": {"a": {"$ref": "file:///etc/passwd"}}}, "moduleDataSchema.properties.a.$ref"),
    ({"items": {"$dynamicRef": "https://example.org/s#m"}}, "moduleDataSchema.items.$dynamicRef"),
    ({"$defs": {"a": {"$ref": "other.json#/x"}}}, "moduleDataSchema.$defs.a.$ref"),
]


@pytest.mark.parametrize(("schema", "path"), REMOTE)
def test_remote_ref_refused_at_pack(tmp_path: Path, schema: Any, path: str) -> None:
    """pack refuses a $ref outside the schema, naming descriptor.json and the JSON path."""
    sources = _sources(tmp_path / "src", moduleDataSchema=schema)
    with pytest.raises(DescriptorError) as caught:
        pack(sources, tmp_path / "out")
    message = str(caught.value)
    assert str(sources / "descriptor.json") in message
    assert f"{path}: " in message and "refers outside the schema" in message
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize(("schema", "path"), REMOTE)
def test_remote_ref_refused_at_install(
    tmp_path: Path, simba_cli: Cli, schema: Any, path: str
) -> None:
    """install refuses a crafted archive whose schema refers outside itself; nothing installed."""
    archive = _archive(tmp_path / "a.zip", _descriptor(moduleDataSchema=schema))
    home = tmp_path / "home"
    result = simba_cli("module", "install", archive, env={"SIMBA_HOME": str(home)})
    assert result.returncode == 2, result.stderr
    assert "descriptor.json" in result.stderr and f"{path}: " in result.stderr
    assert "refers outside the schema" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (home / "modules" / "demo").exists()


CATASTROPHIC = [
    r"^(a+)+$",
    r"^(a|aa)*$",
    r"^(\w+\s?)*$",
    r"(.*,)*x",
    r"^(a)\1$",
    r"(x+x+)+y",
    r"(.([ab](?:|))*\d)*",  # found by fuzzing: two empty alternatives in a repeat
]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_pattern_refused_fast(tmp_path: Path, simba_cli: Cli, pattern: str) -> None:
    """install refuses a pattern that backtracks exponentially, within seconds, naming it."""
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "pattern": pattern}},
        "patternProperties": {"^ok$": {}},
    }
    archive = _archive(tmp_path / "a.zip", _descriptor(moduleDataSchema=schema))
    started = time.monotonic()
    result = simba_cli("module", "install", archive, env={"SIMBA_HOME": str(tmp_path / "h")})
    assert time.monotonic() - started < 20
    assert result.returncode == 2, result.stderr
    assert "moduleDataSchema.properties.name.pattern" in result.stderr
    assert "can take practically for ever" in result.stderr


def test_catastrophic_pattern_property_refused(tmp_path: Path) -> None:
    """A patternProperties key is checked like a pattern, and the path names it."""
    sources = _sources(tmp_path / "src", moduleDataSchema={"patternProperties": {"^(a|a?)+$": {}}})
    with pytest.raises(DescriptorError, match=r"moduleDataSchema\.patternProperties\.\^\(a"):
        pack(sources, tmp_path)


SAFE = [
    r"^[a-z]+(-[a-z]+)*$",
    r"^\d+(\.\d+)*$",
    r"^(\d{1,3}\.){3}\d{1,3}$",
    r"^(GET|POST|PUT)(,(GET|POST|PUT))*$",
    r"^([A-Z][a-z]+)*$",
    r"^P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?)?$",
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$",
]


@pytest.mark.parametrize("pattern", SAFE)
def test_usual_patterns_accepted(pattern: str) -> None:
    """Delimited repetitions, alternatives that start differently and lookaheads pass."""
    assert unsafe_pattern(pattern) is None


_PIECES = st.sampled_from(
    [*"ab()|*+?.[]{}^$\\-,1dws", "(?:", "(?=", "(?!", "(?<=a)", "(?i)", "{2,3}", "\\1"]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_PIECES, max_size=20).map("".join))
def test_pattern_check_never_raises(pattern: str) -> None:
    """Any text, a regex or not, gets a verdict from the pattern check, never an exception."""
    assert unsafe_pattern(pattern) is None or isinstance(unsafe_pattern(pattern), str)


def test_schema_nested_too_deep_refused(tmp_path: Path) -> None:
    """A schema nested hundreds of levels deep is refused, not a RecursionError."""
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(400):
        schema = {"properties": {"a": schema}}
    sources = _sources(tmp_path / "src", moduleDataSchema=schema)
    with pytest.raises(DescriptorError, match="more than 100 levels deep"):
        pack(sources, tmp_path)


# -- archive names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("a" * 300, "name-too-long"),
        ("d/" * 1500 + "f", "name-too-long"),
        ("d/" * (MAX_DEPTH + 1) + "f", "too-deep"),
        ("é" * 200, "name-too-long"),  # 200 characters, 400 bytes
    ],
    ids=["long-part", "deeper-than-recursion", "deep", "long-utf8"],
)
def test_long_and_deep_names_refused(tmp_path: Path, simba_cli: Cli, name: str, rule: str) -> None:
    """install refuses names over 255 bytes a part or too deep, with the rule, no traceback."""
    archive = _archive(tmp_path / "a.zip", _descriptor(), name)
    home = tmp_path / "home"
    result = simba_cli("module", "install", archive, env={"SIMBA_HOME": str(home)})
    assert result.returncode == 2, result.stderr
    assert f"[{rule}]" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr) < 2000  # a long name is shortened in the message
    assert not (home / "modules" / "demo").exists()


def test_write_failure_during_extract_is_clean(tmp_path: Path) -> None:
    """An entry the file system refuses (its path too long there) is a PackageError, no trace."""
    deep = tmp_path.joinpath(*(["x" * 200] * 19))  # SIMBA_HOME itself near PATH_MAX
    deep.mkdir(parents=True)
    archive = _archive(tmp_path / "a.zip", _descriptor(), "lib/" + "b" * 250)
    with pytest.raises(PackageError, match="cannot write the entry") as caught:
        install(archive, home=deep)
    assert "nothing was installed" in str(caught.value)
    assert not (deep / "modules" / "demo" / "tool" / "1.0.0").exists()


# -- the descriptor's command and removing one build ---------------------------------------


@pytest.mark.parametrize("command", ["./run.sh", ["./run.sh"], "{packageDir}/./run.sh"])
def test_dot_slash_command_packs_installs_and_runs(
    tmp_path: Path, simba_cli: Cli, command: Any
) -> None:
    """A descriptor command ./run.sh naming a file of the package is accepted and runs."""
    sources = _sources(tmp_path / "src", command=command)
    home = tmp_path / "home"
    install(pack(sources, tmp_path).archive, home=home)
    scenario = tmp_path / "s.json"
    entry = {"name": "t", "package": "demo/tool", "priority": 1}
    scenario.write_text(json.dumps({"driver": DRIVER, "schedule": [entry]}))
    result = simba_cli("run", scenario, "-o", tmp_path / "runs", env={"SIMBA_HOME": str(home)})
    assert result.returncode == 0, result.stderr


def test_dot_slash_command_still_must_exist(tmp_path: Path) -> None:
    """./missing.sh is refused: a path must be in the package, it is not looked up on PATH."""
    sources = _sources(tmp_path / "src", command="./missing.sh")
    with pytest.raises(DescriptorError, match=r"'missing\.sh' is not in the package"):
        pack(sources, tmp_path)


def _install_builds(tmp_path: Path, home: Path, *versions: str) -> None:
    for version in versions:
        sources = _sources(tmp_path / f"src-{version}", version=version)
        install(pack(sources, tmp_path / f"out-{version}").archive, home=home)


def test_remove_build_removes_exactly_that_build(tmp_path: Path) -> None:
    """remove ns/n@1.0.0+b removes that build only; resolve @1.0.0+a picks +a."""
    home = tmp_path / "home"
    _install_builds(tmp_path, home, "1.0.0+a", "1.0.0+b")
    assert resolve("demo/tool@1.0.0+a", home).ident == "demo/tool@1.0.0+a"
    assert [p.ident for p in remove("demo/tool@1.0.0+b", home)] == ["demo/tool@1.0.0+b"]
    assert [p.ident for p in installed(home)] == ["demo/tool@1.0.0+a"]


def test_remove_plain_version_among_builds(tmp_path: Path, simba_cli: Cli) -> None:
    """@1.0.0 removes the build-less 1.0.0 only; with several builds and no plain one, refused."""
    home = tmp_path / "home"
    _install_builds(tmp_path, home, "1.0.0", "1.0.0+a", "1.0.0+b", "1.1.0")
    env = {"SIMBA_HOME": str(home)}
    first = simba_cli("module", "remove", "demo/tool@1.0.0", env=env)
    assert first.returncode == 0, first.stderr
    assert [p.ident for p in installed(home)] == [
        "demo/tool@1.0.0+a",
        "demo/tool@1.0.0+b",
        "demo/tool@1.1.0",
    ]
    ambiguous = simba_cli("module", "remove", "demo/tool@1.0.0", env=env)
    assert ambiguous.returncode == 2
    assert "matches 2 installed builds" in ambiguous.stderr
    assert "demo/tool@1.0.0+a" in ambiguous.stderr and "Traceback" not in ambiguous.stderr
    assert len(installed(home)) == 3
    assert simba_cli("module", "remove", "demo/tool@1.0.0+a", env=env).returncode == 0
    # the only build of 1.0.0 left is what @1.0.0 names
    assert [p.ident for p in remove("demo/tool@1.0.0", home)] == ["demo/tool@1.0.0+b"]
    assert [p.ident for p in remove("demo/tool@1", home)] == ["demo/tool@1.1.0"]
