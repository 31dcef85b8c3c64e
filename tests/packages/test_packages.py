"""Module packages: packing, safe installing (crafted archives), versions, and runs using them."""

from __future__ import annotations

import json
import os
import stat
import struct
import subprocess
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import MODULES, ROOT
from jsonschema import Draft202012Validator

from simba.packages.archive import MAX_ENTRIES
from simba.packages.pack import pack
from simba.packages.store import (
    ArchiveError,
    DescriptorError,
    PackageError,
    PackageNotFoundError,
    install,
    installed,
    remove,
    resolve,
)
from simba.scenario import load_scenario

Cli = Callable[..., subprocess.CompletedProcess[str]]

#: A module in sh that records its arguments and $WHERE, then succeeds.
PROBE = """#!/bin/sh
config=$3
printf '%s\\n%s\\n%s\\n' "$1" "$2" "$WHERE" > "$1/probe.txt"
status=$(sed -n 's/^ *"statusFile": "\\(.*\\)",$/\\1/p' "$config")
printf '{"status": "success"}\\n' > "$status"
"""

DRIVER = {
    "initialTime": "2024-01-01T00:00:00",
    "endTime": "P2D",
    "scheduleIntervals": [{"tickDuration": "P1D"}],
}


def descriptor(**fields: Any) -> dict[str, Any]:
    """A valid descriptor of demo/tool 1.0.0 running run.sh, with ``fields`` changed."""
    document: dict[str, Any] = {
        "namespace": "demo",
        "name": "tool",
        "version": "1.0.0",
        "command": "run.sh",
        "description": "A tool for tests.",
    }
    document.update(fields)
    return document


def info(name: str, mode: int = 0o644, kind: int = stat.S_IFREG) -> zipfile.ZipInfo:
    """A ZipInfo with a Unix file type and mode."""
    entry = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    entry.create_system = 3
    entry.external_attr = (kind | mode) << 16
    return entry


def good_entries(**fields: Any) -> list[tuple[zipfile.ZipInfo | str, bytes]]:
    """The entries of a valid package: descriptor.json and an executable run.sh."""
    return [
        (info("descriptor.json"), json.dumps(descriptor(**fields)).encode()),
        (info("run.sh", 0o755), MODULES.joinpath("ok.sh").read_bytes()),
    ]


def write_zip(
    path: Path,
    entries: list[tuple[zipfile.ZipInfo | str, bytes]],
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """Write ``entries`` as they are (duplicates included) into the archive ``path``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w", compression) as archive:
            for entry, data in entries:
                if isinstance(entry, zipfile.ZipInfo):
                    entry.compress_type = compression
                archive.writestr(entry, data)
    return path


def tree(root: Path) -> list[str]:
    """Every path below ``root`` (files and directories), relative and sorted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """SIMBA_HOME inside the test's temporary directory."""
    directory = tmp_path / "home"
    monkeypatch.setenv("SIMBA_HOME", str(directory))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    return directory


def _with_extra(name: str, extra: bytes) -> zipfile.ZipInfo:
    entry = info(name)
    entry.extra = extra
    return entry


def _link_extra(target: bytes) -> bytes:
    """A PKWARE Unix extra field (0x000d) naming a link target, as zip -y writes hard links."""
    return struct.pack("<HHIIHH", 0x000D, 12 + len(target), 0, 0, 0, 0) + target


#: Crafted archives: (test id, entries added to a valid package, the rule, the entry named).
CRAFTED: list[tuple[str, list[tuple[zipfile.ZipInfo | str, bytes]], str, str]] = [
    ("absolute", [(info("/tmp/evil"), b"x")], "absolute-path", "/tmp/evil"),
    ("drive", [(info("C:/evil"), b"x")], "absolute-path", "C:/evil"),
    ("dotdot", [(info("../evil"), b"x")], "parent-directory", "../evil"),
    ("dotdot-inner", [(info("lib/../../evil"), b"x")], "parent-directory", "lib/../../evil"),
    ("dotdot-backslash", [(info("..\\evil"), b"x")], "parent-directory", "..\\evil"),
    ("backslash", [(info("lib\\x"), b"x")], "unsafe-name", "lib\\x"),
    ("empty-part", [(info("lib//x"), b"x")], "unsafe-name", "lib//x"),
    ("dot-part", [(info("./x"), b"x")], "unsafe-name", "./x"),
    ("control", [(info("x\x07"), b"x")], "unsafe-name", "x\x07"),
    ("symlink", [(info("link", 0o777, stat.S_IFLNK), b"/etc/passwd")], "symlink", "link"),
    ("hard-link", [(_with_extra("hard", _link_extra(b"run.sh")), b"")], "hard-link", "hard"),
    ("char-device", [(info("tty", 0o666, stat.S_IFCHR), b"")], "device", "tty"),
    ("block-device", [(info("sda", 0o666, stat.S_IFBLK), b"")], "device", "sda"),
    ("fifo", [(info("pipe", 0o644, stat.S_IFIFO), b"")], "fifo", "pipe"),
    ("socket", [(info("sock", 0o644, stat.S_IFSOCK), b"")], "special-file", "sock"),
    ("duplicate", [(info("run.sh", 0o755), b"#!/bin/sh\n")], "duplicate-name", "run.sh"),
    ("file-and-dir", [(info("lib"), b"x"), (info("lib/x"), b"y")], "duplicate-name", "lib/x"),
    ("case", [(info("Data.csv"), b"1"), (info("data.csv"), b"2")], "case-collision", "data.csv"),
    ("case-dir", [(info("Lib/a"), b"1"), (info("lib/b"), b"2")], "case-collision", "lib/b"),
    ("reserved", [(info(".simba-install.json"), b"{}")], "reserved-name", ".simba-install.json"),
    (
        "ratio",
        [(info("zeros.bin"), bytes(2 << 20))],
        "compression-ratio",
        "zeros.bin",
    ),
]


@pytest.mark.parametrize(
    ("extra", "rule", "entry"),
    [pytest.param(e, r, n, id=i) for i, e, r, n in CRAFTED],
)
def test_crafted_archive_refused(
    tmp_path: Path, home: Path, extra: list[Any], rule: str, entry: str
) -> None:
    """Each unsafe archive is refused naming the entry and its rule, and nothing is written."""
    archive = write_zip(tmp_path / "crafted.zip", good_entries() + extra)
    before = tree(tmp_path)
    with pytest.raises(ArchiveError) as caught:
        install(archive)
    assert caught.value.rules == {rule}
    assert f"{entry!r} [{rule}]" in str(caught.value)
    assert caught.value.exit_status == 2
    assert tree(tmp_path) == before
    assert tree(home) == []


def test_missing_descriptor_refused(tmp_path: Path, home: Path) -> None:
    """An archive without descriptor.json at its root is refused as missing-descriptor."""
    archive = write_zip(tmp_path / "a.zip", [(info("sub/descriptor.json"), b"{}")])
    with pytest.raises(ArchiveError) as caught:
        install(archive)
    assert caught.value.rules == {"missing-descriptor"}
    assert tree(home) == []


@pytest.mark.parametrize(
    ("data", "phrases"),
    [
        (b"{not json", ["not valid JSON"]),
        (json.dumps(descriptor(version="1.0", name="../x")).encode(), ["version", "name"]),
        (json.dumps(descriptor(command="bin/run.sh")).encode(), ["'bin/run.sh' is not in"]),
        (json.dumps(descriptor(command="/usr/bin/env")).encode(), ["relative to the package"]),
        (json.dumps(descriptor(moduleDataSchema={"type": 5})).encode(), ["moduleDataSchema"]),
        (json.dumps(descriptor(command=["{nope}"])).encode(), ["unknown placeholder {nope}"]),
    ],
    ids=["not-json", "bad-fields", "program-missing", "absolute-program", "bad-schema", "bad-ph"],
)
def test_invalid_descriptor_refused(
    tmp_path: Path, home: Path, data: bytes, phrases: list[str]
) -> None:
    """A descriptor that breaks its schema is refused as invalid-descriptor, every problem named."""
    entries = [(info("descriptor.json"), data), (info("run.sh", 0o755), b"#!/bin/sh\n")]
    archive = write_zip(tmp_path / "a.zip", entries)
    with pytest.raises(ArchiveError) as caught:
        install(archive)
    assert caught.value.rules == {"invalid-descriptor"}
    for phrase in phrases:
        assert phrase in str(caught.value)
    assert tree(home) == []


def test_too_many_entries_refused(tmp_path: Path, home: Path) -> None:
    """More than 10,000 entries is refused before the central directory is read."""
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as writer:
        for entry, data in good_entries():
            writer.writestr(entry, data)
        for i in range(MAX_ENTRIES):
            writer.writestr(f"f/{i}", b"")
    with pytest.raises(ArchiveError) as caught:
        install(archive)
    assert caught.value.rules == {"too-many-entries"}
    assert "10,002" in str(caught.value)
    assert tree(home) == []


def _patch_sizes(archive: Path, names: set[bytes], size: int) -> None:
    """Make the central directory declare ``size`` bytes (packed and unpacked) for ``names``."""
    data = bytearray(archive.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if bytes(data[at + 46 : at + 46 + name_length]) in names:
            struct.pack_into("<II", data, at + 20, size, size)
        at = data.find(b"PK\x01\x02", at + 46)
    archive.write_bytes(bytes(data))


def test_too_large_refused(tmp_path: Path, home: Path) -> None:
    """Entries that declare more than 1 GiB together are refused before anything is unpacked."""
    archive = write_zip(
        tmp_path / "big.zip",
        [*good_entries(), (info("a.bin"), b"a"), (info("b.bin"), b"b")],
        zipfile.ZIP_STORED,
    )
    _patch_sizes(archive, {b"a.bin", b"b.bin"}, 600 << 20)
    with pytest.raises(ArchiveError) as caught:
        install(archive)
    assert caught.value.rules == {"too-large"}
    assert tree(home) == []


def test_encrypted_entry_refused(tmp_path: Path, home: Path) -> None:
    """An entry flagged as encrypted is refused as encrypted (zipfile cannot write one)."""
    archive = write_zip(tmp_path / "enc.zip", [*good_entries(), (info("secret"), b"x")])
    data = bytearray(archive.read_bytes())
    for signature, flags_at, name_length_at, name_at in (
        (b"PK\x03\x04", 6, 26, 30),
        (b"PK\x01\x02", 8, 28, 46),
    ):
        at = data.find(signature)
        while at >= 0:
            length = struct.unpack_from("<H", data, at + name_length_at)[0]
            if data[at + name_at : at + name_at + length] == b"secret":
                data[at + flags_at] |= 0x1
            at = data.find(signature, at + 4)
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveError) as caught:
        install(archive)
    assert caught.value.rules == {"encrypted"}
    assert tree(home) == []


def test_not_a_zip_refused(tmp_path: Path, home: Path) -> None:
    """A file that is not a ZIP archive is refused with its rule."""
    archive = tmp_path / "fake.zip"
    archive.write_text("hello")
    with pytest.raises(ArchiveError) as caught:
        install(archive)
    assert caught.value.rules == {"not-a-zip"}


def test_every_violation_listed(tmp_path: Path, home: Path) -> None:
    """An archive breaking several rules is refused with each entry and rule in one message."""
    extra = [(info("../a"), b"x"), (info("/b"), b"x"), (info("l", 0o777, stat.S_IFLNK), b"/")]
    archive = write_zip(tmp_path / "many.zip", good_entries() + extra)
    with pytest.raises(ArchiveError) as caught:
        install(archive)
    assert caught.value.rules == {"parent-directory", "absolute-path", "symlink"}


def test_install_failing_half_way_leaves_nothing(tmp_path: Path, home: Path) -> None:
    """An entry that turns out damaged while unpacking leaves no files and no directories."""
    entries = [*good_entries(), (info("zz-last.txt"), b"the last entry's data")]
    archive = write_zip(tmp_path / "broken.zip", entries, zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    at = data.find(b"the last entry's data")
    data[at] ^= 0xFF  # its CRC no longer matches: found only after the others are unpacked
    archive.write_bytes(bytes(data))
    with pytest.raises(PackageError, match=r"'zz-last\.txt' is damaged"):
        install(archive)
    assert tree(home) == []


def test_install_layout_modes_and_record(tmp_path: Path, home: Path) -> None:
    """Install unpacks into modules/<ns>/<name>/<version> with 0755/0644 modes and the sha256."""
    entries = [*good_entries(), (info("lib/data.txt", 0o600), b"data")]
    archive = write_zip(tmp_path / "demo-tool-1.0.0.zip", entries)
    result = install(archive)
    target = home / "modules" / "demo" / "tool" / "1.0.0"
    assert result.action == "installed"
    assert result.package.directory == target
    assert tree(target) == [
        ".simba-install.json",
        "descriptor.json",
        "lib",
        "lib/data.txt",
        "run.sh",
    ]
    assert stat.S_IMODE((target / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((target / "lib" / "data.txt").stat().st_mode) == 0o644
    record = json.loads((target / ".simba-install.json").read_text())
    import hashlib

    assert record["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert record["archive"] == "demo-tool-1.0.0.zip"
    assert [p.ident for p in installed()] == ["demo/tool@1.0.0"]


def test_reinstall_same_archive_is_a_no_op(tmp_path: Path, home: Path) -> None:
    """Installing the same archive again changes nothing and says so."""
    archive = write_zip(tmp_path / "a.zip", good_entries())
    install(archive)
    marker = home / "modules" / "demo" / "tool" / "1.0.0" / "run.sh"
    inode = marker.stat().st_ino
    assert install(archive).action == "unchanged"
    assert marker.stat().st_ino == inode


def test_different_archive_same_version_needs_force(tmp_path: Path, home: Path) -> None:
    """Another archive of an installed version is refused unless forced, then replaces it."""
    install(write_zip(tmp_path / "a.zip", good_entries()))
    other = write_zip(tmp_path / "b.zip", good_entries(description="changed"))
    with pytest.raises(PackageError, match="--force") as caught:
        install(other)
    assert caught.value.exit_status == 2
    assert resolve("demo/tool").descriptor.description == "A tool for tests."
    assert install(other, force=True).action == "replaced"
    assert resolve("demo/tool").descriptor.description == "changed"
    assert tree(home / "modules" / "demo" / "tool") == [
        "1.0.0",
        "1.0.0/.simba-install.json",
        "1.0.0/descriptor.json",
        "1.0.0/run.sh",
    ]


def _install_versions(tmp_path: Path, *versions: str) -> None:
    for version in versions:
        install(write_zip(tmp_path / f"{version}.zip", good_entries(version=version)))


def test_resolve_highest_match(tmp_path: Path, home: Path) -> None:
    """A name with a range resolves to the highest installed version in it."""
    _install_versions(tmp_path, "1.0.0", "1.2.0", "1.10.1", "2.0.0-rc.1", "2.0.0")
    assert str(resolve("demo/tool@>=1.2,<2").descriptor.version) == "1.10.1"
    assert str(resolve("demo/tool").descriptor.version) == "2.0.0"
    assert str(resolve("demo/tool@^1.0").descriptor.version) == "1.10.1"
    assert str(resolve("demo/tool@1.2.0").descriptor.version) == "1.2.0"
    assert str(resolve("demo/tool@2.0.0-rc.1").descriptor.version) == "2.0.0-rc.1"
    with pytest.raises(PackageNotFoundError, match=r"installed: 1\.0\.0, 1\.2\.0"):
        resolve("demo/tool@>=3")
    with pytest.raises(PackageNotFoundError, match="not installed"):
        resolve("demo/other")
    with pytest.raises(PackageError, match="does not name a package"):
        resolve("tool@1.0.0")


def test_remove_versions(tmp_path: Path, home: Path) -> None:
    """remove NAME@VERSION removes that version; remove NAME removes the rest, and empty dirs."""
    _install_versions(tmp_path, "1.0.0", "1.2.0")
    assert [p.ident for p in remove("demo/tool@1.0.0")] == ["demo/tool@1.0.0"]
    assert [p.ident for p in installed()] == ["demo/tool@1.2.0"]
    assert [p.ident for p in remove("demo/tool")] == ["demo/tool@1.2.0"]
    assert tree(home) == ["modules"]
    with pytest.raises(PackageNotFoundError):
        remove("demo/tool")


# -- packing ---------------------------------------------------------------------------------


def _sources(directory: Path, **fields: Any) -> Path:
    directory.mkdir(parents=True)
    (directory / "descriptor.json").write_text(json.dumps(descriptor(**fields)))
    (directory / "run.sh").write_bytes(MODULES.joinpath("ok.sh").read_bytes())
    (directory / "run.sh").chmod(0o755)
    (directory / "lib").mkdir()
    (directory / "lib" / "b.txt").write_text("b")
    (directory / "lib" / "a.txt").write_text("a")
    return directory


def test_pack_is_deterministic(tmp_path: Path) -> None:
    """Packing the same sources twice gives the same sha256, whatever the times and umask."""
    sources = _sources(tmp_path / "tool")
    first = pack(sources, tmp_path / "one")
    os.utime(sources / "lib" / "a.txt", (1_000_000, 1_000_000))
    (sources / "lib" / "b.txt").chmod(0o664)  # still "not executable": packed as 0644
    second = pack(sources, tmp_path / "two")
    assert first.archive.name == "demo-tool-1.0.0.zip"
    assert first.sha256 == second.sha256
    assert first.archive.read_bytes() == second.archive.read_bytes()
    with zipfile.ZipFile(first.archive) as archive:
        names = [i.filename for i in archive.infolist()]
        assert names == sorted(names) == ["descriptor.json", "lib/a.txt", "lib/b.txt", "run.sh"]
        for entry in archive.infolist():
            assert entry.date_time == (1980, 1, 1, 0, 0, 0)
            mode = entry.external_attr >> 16
            assert mode == (0o100755 if entry.filename == "run.sh" else 0o100644)
    (sources / "lib" / "a.txt").write_text("changed")
    assert pack(sources, tmp_path / "three").sha256 != first.sha256


def test_pack_leaves_out_hidden_bytecode_runs_and_archives(tmp_path: Path) -> None:
    """Hidden files, __pycache__, run directories and earlier archives are not packed."""
    sources = _sources(tmp_path / "tool")
    (sources / ".git").mkdir()
    (sources / ".git" / "HEAD").write_text("ref")
    (sources / ".env").write_text("SECRET=1")
    (sources / "__pycache__").mkdir()
    (sources / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    (sources / "lib" / "x.pyc").write_bytes(b"\0")
    run = sources / "runs" / "20240101.1"
    (run / ".simba").mkdir(parents=True)
    (run / "0").mkdir()
    (run / "0" / "module_1.json").write_text("{}")
    first = pack(sources, sources)  # the archive lands in the sources
    second = pack(sources, sources)
    assert first.sha256 == second.sha256
    with zipfile.ZipFile(second.archive) as archive:
        assert archive.namelist() == ["descriptor.json", "lib/a.txt", "lib/b.txt", "run.sh"]


def test_pack_refuses_links(tmp_path: Path) -> None:
    """A symbolic link in the sources is refused, naming it."""
    sources = _sources(tmp_path / "tool")
    (sources / "lib" / "link").symlink_to("a.txt")
    with pytest.raises(PackageError, match="lib/link is a symbolic link"):
        pack(sources, tmp_path)
    assert not (tmp_path / "demo-tool-1.0.0.zip").exists()


def test_pack_lists_every_descriptor_problem(tmp_path: Path) -> None:
    """A descriptor with several problems is refused listing each, and nothing is packed."""
    sources = _sources(tmp_path / "tool", version="1", namespace="-x", homepage="ftp://x")
    with pytest.raises(DescriptorError) as caught:
        pack(sources, tmp_path)
    assert {p.path for p in caught.value.problems} == {"version", "namespace", "homepage"}
    assert caught.value.exit_status == 2
    assert not list(tmp_path.glob("*.zip"))


def test_pack_refuses_program_that_is_not_executable(tmp_path: Path) -> None:
    """The descriptor's program must be in the package and executable."""
    sources = _sources(tmp_path / "tool")
    (sources / "run.sh").chmod(0o644)
    with pytest.raises(DescriptorError, match="not executable"):
        pack(sources, tmp_path)


# -- the CLI and runs ------------------------------------------------------------------------


def test_schema_descriptor(simba_cli: Cli) -> None:
    """simba schema descriptor prints the descriptor schema, a valid draft 2020-12 schema."""
    result = simba_cli("schema", "descriptor")
    assert result.returncode == 0
    printed = json.loads(result.stdout)
    assert printed == json.loads((ROOT / "schema" / "descriptor.json").read_text())
    Draft202012Validator.check_schema(printed)


def test_cli_refuses_unsafe_archive(tmp_path: Path, simba_cli: Cli) -> None:
    """simba module install of an unsafe archive exits 2 naming entry and rule, no traceback."""
    archive = write_zip(tmp_path / "evil.zip", [*good_entries(), (info("../../evil"), b"x")])
    result = simba_cli("module", "install", archive, env={"SIMBA_HOME": str(tmp_path / "h")})
    assert result.returncode == 2
    assert "'../../evil' [parent-directory]" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "h").exists() or tree(tmp_path / "h") == []
    assert not (tmp_path.parent / "evil").exists()


def test_round_trip(tmp_path: Path, simba_cli: Cli) -> None:
    """module new -> pack -> install -> a scenario naming it by range -> run succeeds."""
    env = {"SIMBA_HOME": str(tmp_path / "home")}
    assert simba_cli("module", "new", "demo/greeter", env=env).returncode == 0
    packed = simba_cli("module", "pack", "greeter", env=env)
    assert packed.returncode == 0, packed.stderr
    again = simba_cli("module", "pack", "greeter", "-o", "again", env=env)
    sha = packed.stdout.split("sha256 ")[1].strip()
    assert again.stdout.split("sha256 ")[1].strip() == sha
    archive = tmp_path / "demo-greeter-0.1.0.zip"
    result = simba_cli("module", "install", archive, env=env)
    assert result.returncode == 0, result.stderr
    assert "installed demo/greeter@0.1.0" in result.stdout
    assert "nothing to do" in simba_cli("module", "install", archive, env=env).stdout
    listing = simba_cli("module", "list", "--json", env=env)
    assert [(p["name"], p["version"]) for p in json.loads(listing.stdout)] == [
        ("demo/greeter", "0.1.0")
    ]
    shown = json.loads(simba_cli("module", "show", "demo/greeter@0.1", "--json", env=env).stdout)
    assert shown["sha256"] == sha
    scenario = tmp_path / "uses.json"
    scenario.write_text(
        json.dumps(
            {
                "driver": DRIVER,
                "schedule": [
                    {
                        "name": "greet",
                        "package": "demo/greeter@>=0.1,<1",
                        "priority": 1,
                        "moduleData": {"greeting": "hi"},
                        "env": {"MODULE_LOG_DIR": "{logDir}"},
                    }
                ],
            }
        )
    )
    run = simba_cli("run", scenario, "--run-id", "r", "--json", env=env)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["outcome"] == "success"
    assert summary["modules"]["greet"]["moduleData"] == {"greeting": "hi", "steps": 2}
    log = tmp_path / "runs" / "r" / "modules" / "greet" / "log" / "steps.log"
    assert log.read_text().splitlines() == ["0 -> 1", "1 -> 2"]
    removed = simba_cli("module", "remove", "demo/greeter", env=env)
    assert removed.returncode == 0
    gone = simba_cli("validate", scenario, env=env)
    assert gone.returncode == 2
    assert "demo/greeter is not installed" in gone.stderr


def _install_probe(tmp_path: Path, **fields: Any) -> Path:
    """Install demo/probe 1.0.0 (PROBE, called with {dataDir} {packageDir}); its home."""
    sources = tmp_path / "probe-src"
    sources.mkdir()
    document = descriptor(
        name="probe",
        command=["probe.sh", "{dataDir}", "{packageDir}"],
        moduleDataSchema={
            "type": "object",
            "required": ["rate"],
            "properties": {"rate": {"type": "number", "minimum": 0}, "label": {"type": "string"}},
            "additionalProperties": False,
        },
        **fields,
    )
    (sources / "descriptor.json").write_text(json.dumps(document))
    (sources / "probe.sh").write_text(PROBE)
    (sources / "probe.sh").chmod(0o755)
    home = tmp_path / "home"
    install(pack(sources, tmp_path).archive, home=home)
    return home


def _probe_scenario(tmp_path: Path, **entry: Any) -> Path:
    scenario = tmp_path / "probe.json"
    module = {"name": "p", "package": "demo/probe@1", "priority": 1, **entry}
    scenario.write_text(json.dumps({"driver": DRIVER, "schedule": [module]}))
    return scenario


def test_placeholders_and_module_directories(tmp_path: Path, simba_cli: Cli) -> None:
    """{dataDir}, {packageDir} and {stateDir} are filled in; the module's dirs exist, data 0700."""
    home = _install_probe(tmp_path)
    scenario = _probe_scenario(tmp_path, moduleData={"rate": 1}, env={"WHERE": "{stateDir}"})
    out = tmp_path / "out dir"  # a space: the paths must stay one argument each
    result = simba_cli("run", scenario, "-o", out, "--run-id", "r", env={"SIMBA_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    dirs = out / "r" / "modules" / "p"
    assert sorted(p.name for p in dirs.iterdir()) == ["cache", "data", "log", "state"]
    assert stat.S_IMODE((dirs / "data").stat().st_mode) == 0o700
    recorded = (dirs / "data" / "probe.txt").read_text().splitlines()
    assert recorded == [
        str(dirs / "data"),
        str(home / "modules" / "demo" / "probe" / "1.0.0"),
        str(dirs / "state"),
    ]


def test_shell_command_placeholders_are_quoted(
    tmp_path: Path, write_scenario: Callable[..., Path], simba_cli: Cli
) -> None:
    """In a command run by the shell, a placeholder path with a space stays one word."""
    ok = MODULES / "ok.sh"
    command = f"printf '%s' {{runDir}} > {{dataDir}}/where.txt && {ok}"
    scenario = write_scenario([{"name": "s", "priority": 1, "command": command}])
    out = tmp_path / "with space"
    result = simba_cli("run", scenario, "-o", out, "--run-id", "r")
    assert result.returncode == 0, result.stderr
    assert (out / "r" / "modules" / "s" / "data" / "where.txt").read_text() == str(out / "r")


def test_module_data_violations_listed_nothing_run(tmp_path: Path, simba_cli: Cli) -> None:
    """moduleData against the descriptor's schema: exit 2, every violation listed, nothing run."""
    home = _install_probe(tmp_path)
    scenario = _probe_scenario(tmp_path, moduleData={"rate": -1, "label": 5, "extra": True})
    for command in ("validate", "run"):
        result = simba_cli(command, scenario, env={"SIMBA_HOME": str(home)})
        assert result.returncode == 2, result.stderr
        assert "schedule[0].moduleData.rate: module 'p' (demo/probe@1.0.0): must be at least 0" in (
            result.stderr
        )
        assert "schedule[0].moduleData.label" in result.stderr
        assert "unknown key 'extra'" in result.stderr
        assert "3 problems" in result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()
    missing = _probe_scenario(tmp_path)  # no moduleData at all: "rate" is required
    result = simba_cli("validate", missing, env={"SIMBA_HOME": str(home)})
    assert result.returncode == 2
    assert "the required key 'rate' is missing" in result.stderr


def test_requires_checked_before_run(tmp_path: Path, simba_cli: Cli) -> None:
    """A Python version or a program the package requires but lacks: exit 2 listing both."""
    requires = {"python": ">=99", "executables": ["simba-no-such-program-xyz"]}
    home = _install_probe(tmp_path, requires=requires)
    scenario = _probe_scenario(tmp_path, moduleData={"rate": 1})
    result = simba_cli("run", scenario, env={"SIMBA_HOME": str(home)})
    assert result.returncode == 2
    assert "needs Python >=99" in result.stderr
    assert "needs the program 'simba-no-such-program-xyz'" in result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"command": "x {nope}"}, "unknown placeholder {nope}"),
        ({"command": ["x", "{packageDir}"]}, "{packageDir} exists only for modules installed"),
        ({"command": "{dataDir}/tool"}, "lies in the run directory"),
        ({"command": "x", "env": {"A": "{Data}"}}, "schedule[0].env.A: unknown placeholder"),
        ({"command": "x", "package": "demo/x"}, "has both 'command' and 'package'"),
        ({"package": "no-slash"}, "namespace/name"),
        ({"package": "demo/x@>=1 <2"}, "not a version range"),
    ],
)
def test_placeholder_and_package_problems(
    write_scenario: Callable[..., Path], simba_cli: Cli, entry: dict[str, Any], message: str
) -> None:
    """Unknown or misplaced placeholders and bad package names are scenario problems (exit 2)."""
    scenario = write_scenario([{"name": "m", "priority": 1, **entry}])
    result = simba_cli("validate", scenario, env={"SIMBA_HOME": str(scenario / "home")})
    assert result.returncode == 2
    assert message in result.stderr


def test_placeholder_lookalikes_left_alone(
    tmp_path: Path, write_scenario: Callable[..., Path]
) -> None:
    """JSON in env, ${VAR} and {{name}} are not placeholders; {{python}} is the text {python}."""
    from simba.placeholders import expand, names

    assert names('{"a": {"b": 1}} ${HOME} {{python}} find -exec {} ;') == []
    assert expand("${HOME} {{python}} {python}", {"python": "/py"}) == "${HOME} {python} /py"
    scenario = write_scenario(
        [
            {
                "name": "m",
                "priority": 1,
                "command": str(MODULES / "ok.sh"),
                "env": {"J": '{"a": {"b": 1}}', "H": "${HOME}"},
            }
        ]
    )
    assert load_scenario(scenario).modules[0].env["J"] == '{"a": {"b": 1}}'


def test_fingerprint_follows_the_resolved_package(tmp_path: Path, home: Path) -> None:
    """Installing a newer version in the range changes the fingerprint, so resume refuses."""
    _install_versions(tmp_path, "1.0.0")
    scenario = tmp_path / "s.json"
    scenario.write_text(
        json.dumps(
            {"driver": DRIVER, "schedule": [{"name": "t", "package": "demo/tool", "priority": 1}]}
        )
    )
    first = load_scenario(scenario)
    assert first.modules[0].package is not None
    assert load_scenario(scenario).fingerprint == first.fingerprint
    _install_versions(tmp_path, "1.1.0")
    second = load_scenario(scenario)
    assert second.modules[0].argv[0].endswith("1.1.0/run.sh")
    assert second.fingerprint != first.fingerprint


def test_list_reports_damaged_install(tmp_path: Path, home: Path, simba_cli: Cli) -> None:
    """A damaged installed package is reported as a warning by list, not a traceback."""
    _install_versions(tmp_path, "1.0.0")
    (home / "modules" / "demo" / "tool" / "1.0.0" / "descriptor.json").write_text("{")
    result = simba_cli("module", "list", env={"SIMBA_HOME": str(home)})
    assert result.returncode == 0
    assert "warning:" in result.stderr and "damaged" in result.stderr
    assert "no packages installed" in result.stdout
