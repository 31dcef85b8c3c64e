"""The engine command lines, checked against the engines' documented ones (pure: no engine
needed, so Docker and Apptainer are checked here on every machine)."""

from __future__ import annotations

from pathlib import Path

from simba.containers.argv import (
    Invocation,
    command_line,
    container_name,
    labelled_argv,
    remove_argv,
)
from simba.containers.spec import Bind, Container, Engine, Network

RUN = Path("/runs/r1")
WORK = Path("/scenario")


def call(**changes: object) -> Invocation:
    fields: dict[str, object] = {
        "program": "/usr/bin/podman",
        "image": "sha256:abc",
        "name": "simba-x-m-1",
        "run_dir": RUN,
        "working_directory": WORK,
        "env_keys": ("SIMBA_RUN_DIR", "SEED"),
        "uid": 1000,
        "gid": 100,
        "limits": (("nofile", 1024, 4096),),
    }
    return Invocation(**{**fields, **changes})  # type: ignore[arg-type]


def test_podman_call_as_root_runs_as_the_user_without_network() -> None:
    container = Container(
        image="img:1",
        engine=Engine.PODMAN,
        binds=(Bind(path=Path("/data")), Bind(path=Path("/out"), writable=True)),
        options=("--ulimit", "nproc=64:64"),
    )
    argv = command_line(container, call(uid=0, gid=0), ["./ok.sh", "-v"])
    assert argv == [
        "/usr/bin/podman", "run", "--rm", "--name", "simba-x-m-1",
        "--label", "simba.run=/runs/r1",
        "--network", "none",
        "--user", "0:0",
        "--ulimit", "nofile=1024:4096",
        "--volume", "/runs/r1:/runs/r1:rw",
        "--volume", "/scenario:/scenario:rw",
        "--volume", "/data:/data:ro",
        "--volume", "/out:/out:rw",
        "--workdir", "/scenario",
        "--env", "SIMBA_RUN_DIR", "--env", "SEED",
        "--ulimit", "nproc=64:64",
        "sha256:abc", "./ok.sh", "-v",
    ]  # fmt: skip


def test_rootless_podman_keeps_the_users_id() -> None:
    argv = command_line(Container(image="i", engine=Engine.PODMAN), call(rootless=True), ["p"])
    assert "--userns=keep-id" in argv
    assert "--user" not in argv


def test_docker_runs_as_uid_gid_even_for_a_user() -> None:
    container = Container(image="i", engine=Engine.DOCKER)
    argv = command_line(container, call(program="docker", rootless=True), ["p"])
    assert argv[:2] == ["docker", "run"]
    assert argv[argv.index("--user") + 1] == "1000:100"
    assert "--userns=keep-id" not in argv


def test_resident_keeps_stdin_open() -> None:
    argv = command_line(Container(image="i", engine=Engine.PODMAN), call(interactive=True), ["p"])
    assert "--interactive" in argv


def test_a_service_is_hardened_and_published_on_loopback_only() -> None:
    container = Container(image="i", engine=Engine.PODMAN)
    argv = command_line(container, call(service_port=8123), ["svc"])
    text = " ".join(argv)
    assert "--cap-drop ALL" in text
    assert "--security-opt no-new-privileges" in text
    assert "--publish 127.0.0.1:8123:8123" in text
    assert "--network" not in argv
    host = Container(image="i", engine=Engine.PODMAN, network=Network.HOST)
    assert "--network host" in " ".join(command_line(host, call(service_port=1), ["svc"]))


def test_the_run_and_working_directories_are_bound_once_and_writable() -> None:
    container = Container(image="i", engine=Engine.PODMAN, binds=(Bind(path=WORK),))
    argv = command_line(container, call(working_directory=RUN), ["p"])
    assert argv.count("--volume") == 2
    assert "/runs/r1:/runs/r1:rw" in argv
    assert "/scenario:/scenario:ro" in argv


def test_apptainer_exec_binds_at_the_same_paths_and_runs_the_sif() -> None:
    container = Container(
        image="/images/m.sif",
        engine=Engine.APPTAINER,
        binds=(Bind(path=Path("/data")),),
        options=("--cleanenv",),
    )
    argv = command_line(container, call(program="apptainer", image="/images/m.sif"), ["m"])
    assert argv == [
        "apptainer", "exec", "--contain", "--pwd", "/scenario",
        "--bind", "/runs/r1:/runs/r1:rw",
        "--bind", "/scenario:/scenario:rw",
        "--bind", "/data:/data:ro",
        "--cleanenv", "/images/m.sif", "m",
    ]  # fmt: skip
    singularity = Container(image="m.sif", engine=Engine.SINGULARITY)
    service = command_line(singularity, call(program="singularity", service_port=1), ["m"])
    assert service[:2] == ["singularity", "exec"]
    assert "--no-privs" in service


def test_bind_syntax() -> None:
    assert Bind.parse("data", Path("/s")) == Bind(path=Path("/s/data"))
    assert Bind.parse("/x:rw", Path("/s")) == Bind(path=Path("/x"), writable=True)
    assert Bind.parse("/x:ro", Path("/s")) == Bind(path=Path("/x"))


def test_names_and_cleanup_command_lines() -> None:
    name = container_name(RUN, "my model/1", 7)
    assert name.startswith("simba-") and name.endswith("-my_model_1-7")
    assert container_name(Path("/runs/r2"), "my model/1", 7) != name
    assert remove_argv(Engine.PODMAN, "podman", ["a"]) == [
        "podman", "rm", "--force", "--ignore", "--time", "0", "a"
    ]  # fmt: skip
    assert remove_argv(Engine.DOCKER, "docker", ["a"]) == ["docker", "rm", "--force", "a"]
    assert remove_argv(Engine.APPTAINER, "apptainer", ["a"]) is None
    assert labelled_argv(Engine.DOCKER, "docker", RUN) == [
        "docker", "ps", "--all", "--quiet", "--filter", "label=simba.run=/runs/r1"
    ]  # fmt: skip
