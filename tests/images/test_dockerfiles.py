"""Properties of the container images that MPIJobs and the Deployment rely on, read from the Dockerfiles.

No Docker engine is needed: hadolint checks each Dockerfile, and the tests below check what matters to users
(non-root numeric USER, sshd/ssh on port 2222, the non-root sshd config, the paths the example MPIJobs use,
pinned base images, the operator image's entrypoint).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, examples_dir
from tests.images.dockerfile import Stage, read_stages, resolve

IMAGES = REPO / "images"
HADOLINT = Path(sys.executable).parent / "hadolint"
DOCKERFILES = sorted([*IMAGES.rglob("Dockerfile"), *IMAGES.rglob("*.Dockerfile")])
# Builder images are compile stages (`FROM ...-builder AS builder`), never run in a cluster; they stay root
# because compilers write outside /home. test_builder_images_are_only_used_as_build_stages holds them to that.
BUILDER_IMAGES = {"openmpi-builder", "mpich-builder", "intel-builder"}
SSH_PORT = "2222"
MPIUSER_UID = "1000"
# Image references used by the examples -> the Dockerfile that builds them.
EXAMPLE_IMAGES = {
    "mpioperator/mpi-pi:openmpi": IMAGES / "examples/pi/Dockerfile",
    "mpioperator/mpi-pi:mpich": IMAGES / "examples/pi/mpich.Dockerfile",
    "mpioperator/mpi-pi:intel": IMAGES / "examples/pi/intel.Dockerfile",
}


def _id(path: Path) -> str:
    return str(path.relative_to(IMAGES))


def _final(path: Path) -> tuple[dict[str, str], Stage]:
    args, stages = read_stages(path)
    assert stages, f"{path}: no FROM"
    return args, stages[-1]


def _ssh_options(path: Path) -> dict[str, str]:
    options: dict[str, str] = {}
    for line in path.read_text().splitlines():
        words = line.split()
        if words and not words[0].startswith("#"):
            options.setdefault(words[0], " ".join(words[1:]))  # OpenSSH: the first value wins
    return options


def _local_dockerfile(reference: str) -> Path | None:
    """The Dockerfile in images/ that builds `mpioperator/<name>:<tag>`, if any."""
    m = re.fullmatch(r"mpioperator/([\w.-]+):[\w.-]+", reference)
    if m and (IMAGES / m.group(1) / "Dockerfile").is_file():
        return IMAGES / m.group(1) / "Dockerfile"
    return None


def _image_chain(path: Path) -> list[tuple[dict[str, str], Stage]]:
    """Final stages from this Dockerfile down through the local base images it is built FROM."""
    chain: list[tuple[dict[str, str], Stage]] = []
    current: Path | None = path
    while current is not None:
        args, stage = _final(current)
        chain.append((args, stage))
        current = _local_dockerfile(resolve(stage.base, args))
    return chain


def _files_in_image(path: Path) -> set[str]:
    """Destinations COPY puts into the image's final stage or the local base images below it."""
    files = set()
    for _, stage in _image_chain(path):
        for copy in stage.all("COPY"):
            files.add([w for w in copy.args.split() if not w.startswith("--")][-1])
    return files


def _entrypoint(path: Path) -> list[str] | None:
    for _, stage in _image_chain(path):
        entrypoints = stage.all("ENTRYPOINT")
        if entrypoints:
            return entrypoints[-1].exec_form()
    return None


def _user(path: Path) -> str | None:
    for _, stage in _image_chain(path):
        user = stage.last_user()
        if user is not None:
            return user
    return None


def test_every_image_has_a_dockerfile() -> None:
    names = {_id(p) for p in DOCKERFILES}
    for image in ("operator", "base", "openmpi", "mpich", "intel", *BUILDER_IMAGES):
        assert f"{image}/Dockerfile" in names


@pytest.mark.parametrize("path", DOCKERFILES, ids=_id)
def test_hadolint_accepts_the_dockerfile(path: Path) -> None:
    result = subprocess.run([str(HADOLINT), "--config", str(IMAGES / ".hadolint.yaml"), "--no-color", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_ignores_are_documented() -> None:
    config = yaml.safe_load((IMAGES / ".hadolint.yaml").read_text())
    text = (IMAGES / ".hadolint.yaml").read_text()
    for rule in config.get("ignored", []):
        comment = text.split(f"- {rule}")[0].rsplit("ignored:", 1)[-1]
        assert rule in comment, f"{rule} is ignored without a comment saying why"
    for path in DOCKERFILES:
        assert "hadolint ignore" not in path.read_text(), f"{path}: inline ignore; document it in .hadolint.yaml"


@pytest.mark.parametrize("path", [p for p in DOCKERFILES if p.parent.name not in BUILDER_IMAGES], ids=_id)
def test_runtime_images_run_as_a_numeric_non_root_user(path: Path) -> None:
    user = _user(path)
    assert user is not None and user.isdigit(), f"{path}: USER must be a numeric uid (runAsNonRoot needs one)"
    assert int(user) != 0


def test_builder_images_are_only_used_as_build_stages() -> None:
    for path in DOCKERFILES:
        args, stages = read_stages(path)
        final_base = resolve(stages[-1].base, args)
        assert not any(f"/{b}:" in final_base for b in BUILDER_IMAGES), f"{path}: final stage is a builder image"


@pytest.mark.parametrize("path", DOCKERFILES, ids=_id)
def test_external_base_images_are_pinned(path: Path) -> None:
    args, stages = read_stages(path)
    for stage in stages:
        reference = resolve(stage.base, args)
        if reference.startswith("mpioperator/") or reference in {s.name for s in stages}:
            continue  # images built from this directory
        name, _, tag = reference.partition(":")
        if name == "debian":
            assert re.fullmatch(r"trixie-\d{8}(-slim)?", tag), f"{path}: pin a dated Debian trixie tag"
        elif name == "python":
            assert re.fullmatch(r"3\.11\.\d+-slim(-\w+)?", tag), f"{path}: pin python 3.11.<patch>-slim"
        else:
            pytest.fail(f"{path}: unexpected base image {reference}")


# --- the operator image -------------------------------------------------------------------------------------


def test_operator_image_is_multi_stage_with_a_slim_python_final_stage() -> None:
    args, stages = read_stages(IMAGES / "operator/Dockerfile")
    assert len(stages) >= 2 and stages[0].name == "builder"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", resolve(stages[-1].base, args))


def test_operator_image_final_stage_has_no_build_tools() -> None:
    _, final = _final(IMAGES / "operator/Dockerfile")
    for run in final.all("RUN"):
        assert "apt-get install" not in run.args and "pip install" not in run.args
    assert any("pip uninstall" in run.args and "pip" in run.args.split() for run in final.all("RUN"))
    copies = [c.args for c in final.all("COPY")]
    assert copies == ["--from=builder /opt/mpi-operator /opt/mpi-operator"]


def test_operator_image_installs_the_wheel_without_extras() -> None:
    """The base dependencies only: the sandbox extra (tests/packaging shows the operator runs without it)."""
    builder = read_stages(IMAGES / "operator/Dockerfile")[1][0]
    installs = [r.args for r in builder.all("RUN") if "install" in r.args]
    assert len(installs) == 1 and "/wheels/*.whl" in installs[0]
    assert "[" not in installs[0] and "sandbox" not in installs[0]
    assert "--no-deps" not in installs[0].split("install", 1)[1]


def test_operator_image_runs_mpi_operator_run_as_the_deployment_user() -> None:
    _, final = _final(IMAGES / "operator/Dockerfile")
    assert final.all("ENTRYPOINT")[-1].exec_form() == ["mpi-operator"]
    assert final.all("CMD")[-1].exec_form() == ["run"]
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["mpi-operator"] == "mpi_operator.cli:main"
    deployment = yaml.safe_load((REPO / "manifests/base/deployment.yaml").read_text())
    assert final.last_user() == str(deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"])


def test_dockerignore_keeps_only_what_the_wheel_build_needs() -> None:
    lines = [ln for ln in (REPO / ".dockerignore").read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "*"
    assert {"!pyproject.toml", "!README.md", "!mpi_operator/"} <= set(lines)
    builder = read_stages(IMAGES / "operator/Dockerfile")[1][0]
    sources = {w for c in builder.all("COPY") for w in c.args.split()[:-1]}
    assert sources <= {"pyproject.toml", "README.md", "mpi_operator"}


# --- the MPI base image: ssh, sshd and mpiuser -----------------------------------------------------------------


def test_ssh_client_skips_host_key_checks_and_uses_port_2222() -> None:
    options = _ssh_options(IMAGES / "base/ssh_config.d/mpi-operator.conf")
    assert options == {"Host": "*", "StrictHostKeyChecking": "no", "UserKnownHostsFile": "/dev/null",
                       "Port": SSH_PORT}


def test_system_sshd_disables_strict_modes_and_listens_on_2222() -> None:
    assert _ssh_options(IMAGES / "base/sshd_config.d/mpi-operator.conf") == {"StrictModes": "no", "Port": SSH_PORT}


def test_base_image_installs_the_drop_in_configs_that_debian_includes() -> None:
    _, base = _final(IMAGES / "base/Dockerfile")
    copies = {tuple(c.args.split()[-2:]) for c in base.all("COPY")}
    assert ("base/ssh_config.d/mpi-operator.conf", "/etc/ssh/ssh_config.d/mpi-operator.conf") in copies
    assert ("base/sshd_config.d/mpi-operator.conf", "/etc/ssh/sshd_config.d/mpi-operator.conf") in copies
    run = " ".join(r.args for r in base.all("RUN"))
    assert "openssh-server" in run and "openssh-client" in run
    assert "setcap CAP_NET_BIND_SERVICE=+eip /usr/sbin/sshd" in run and "purge -y libcap2-bin" in run
    assert "mkdir -p /var/run/sshd" in run


def test_mpiuser_sshd_config_keeps_pid_file_and_host_key_in_the_home_directory() -> None:
    lines = (IMAGES / "base/mpiuser.sshd_config").read_text().splitlines()
    assert lines == ["PidFile /home/mpiuser/sshd.pid", "HostKey /home/mpiuser/.ssh/id_rsa", "StrictModes no",
                     f"Port {SSH_PORT}"]
    _, base = _final(IMAGES / "base/Dockerfile")
    assert f"--chown={MPIUSER_UID}:{MPIUSER_UID} base/mpiuser.sshd_config /home/mpiuser/.sshd_config" in [
        c.args for c in base.all("COPY")]


def test_base_image_creates_mpiuser_with_uid_1000_and_works_in_its_home() -> None:
    _, base = _final(IMAGES / "base/Dockerfile")
    useradd = [r.args for r in base.all("RUN") if "useradd" in r.args]
    assert useradd and re.search(rf"--uid {MPIUSER_UID}\b.*\bmpiuser$", useradd[0])
    assert "--create-home" in useradd[0]
    assert base.all("WORKDIR")[-1].args == "/home/mpiuser"
    assert base.last_user() == MPIUSER_UID


# --- what the example MPIJobs rely on --------------------------------------------------------------------------


def _example_containers() -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(example file, replica type, MPIJob spec, container) for every container using a locally built image."""
    found = []
    for path in sorted(examples_dir().glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            for rtype, replica in doc["spec"]["mpiReplicaSpecs"].items():
                for container in replica["template"]["spec"]["containers"]:
                    if container["image"] in EXAMPLE_IMAGES:
                        found.append((path.name, rtype, doc["spec"], container))
    return found


def test_the_pi_examples_use_images_built_here() -> None:
    assert {c["image"] for _, _, _, c in _example_containers()} == set(EXAMPLE_IMAGES)


@pytest.mark.parametrize(("example", "rtype", "spec", "container"), _example_containers(),
                         ids=[f"{e}-{r}" for e, r, _, _ in _example_containers()])
def test_example_paths_users_and_ports_exist_in_its_image(example: str, rtype: str, spec: dict[str, Any],
                                                          container: dict[str, Any]) -> None:
    dockerfile = EXAMPLE_IMAGES[container["image"]]
    files = _files_in_image(dockerfile)
    entrypoint = _entrypoint(dockerfile)
    argv = [*(container.get("command") or entrypoint or []), *(container.get("args") or [])]
    for word in argv:
        if word.startswith("/home/mpiuser/") or word == "/entrypoint.sh":
            assert word in files, f"{example}: {word} is not in {container['image']}"
    if not container.get("command") and entrypoint:
        assert entrypoint == ["/entrypoint.sh"] and "/entrypoint.sh" in files
    # The Secret mount holds id_rsa, which the non-root sshd uses as its host key.
    host_key = _ssh_options(IMAGES / "base/mpiuser.sshd_config")["HostKey"]
    assert spec["sshAuthMountPath"] == str(PurePosixPath(host_key).parent)
    assert str(container["securityContext"]["runAsUser"]) == MPIUSER_UID == _user(dockerfile)
    probe = container.get("readinessProbe", {}).get("tcpSocket")
    if probe:
        assert str(probe["port"]) == SSH_PORT


# --- the launcher entrypoint (Intel MPI and MPICH) -------------------------------------------------------------


@pytest.mark.parametrize("image", ["intel", "mpich"])
def test_intel_and_mpich_images_run_the_dns_waiting_entrypoint(image: str) -> None:
    _, final = _final(IMAGES / image / "Dockerfile")
    assert final.all("ENTRYPOINT")[-1].exec_form() == ["/entrypoint.sh"]
    assert "--chmod=0755 common/entrypoint.sh /entrypoint.sh" in [c.args for c in final.all("COPY")]
    assert "dnsutils" in " ".join(r.args for r in final.all("RUN"))  # nslookup


@pytest.fixture
def stub_bin(tmp_path: Path) -> Path:
    """nslookup and sleep stand-ins that log their calls; nslookup succeeds for names listed in `resolvable`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nslookup").write_text(
        f'#!/bin/bash\necho "$1" >> {tmp_path}/nslookup.log\ngrep -qxF "$1" {tmp_path}/resolvable\n')
    (bin_dir / "sleep").write_text(f'#!/bin/bash\necho "$1" >> {tmp_path}/sleep.log\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    (tmp_path / "resolvable").write_text("")
    return bin_dir


def _run_entrypoint(stub_bin: Path, role: str, hostfile: str,
                    resolvable: list[str]) -> subprocess.CompletedProcess[str]:
    work = stub_bin.parent
    (work / "resolvable").write_text("".join(f"{h}\n" for h in resolvable))
    (work / "hostfile").write_text(hostfile)
    env = {"PATH": f"{stub_bin}:/usr/bin:/bin", "K_MPI_JOB_ROLE": role, "HOSTNAME": "pi-launcher",
           "MPI_HOSTFILE": str(work / "hostfile")}
    return subprocess.run(["bash", str(IMAGES / "common/entrypoint.sh"), "echo", "ran", "mpirun"], env=env,
                          capture_output=True, text=True, timeout=30)


def _log(stub_bin: Path, name: str) -> list[str]:
    path = stub_bin.parent / name
    return path.read_text().split() if path.exists() else []


def test_launcher_entrypoint_checks_itself_and_every_hostfile_host_then_runs_its_arguments(stub_bin: Path) -> None:
    hosts = ["pi-launcher", "pi-worker-0.pi.default.svc", "pi-worker-1.pi.default.svc"]
    result = _run_entrypoint(stub_bin, "launcher", "pi-worker-0.pi.default.svc:1\npi-worker-1.pi.default.svc:1\n",
                             hosts)
    assert result.returncode == 0
    assert result.stdout.splitlines()[-1] == "ran mpirun"
    assert _log(stub_bin, "nslookup.log") == hosts
    assert _log(stub_bin, "sleep.log") == []


def test_launcher_entrypoint_reads_open_mpi_style_hostfile_lines(stub_bin: Path) -> None:
    _run_entrypoint(stub_bin, "launcher", "pi-worker-0.pi.default.svc slots=2\n", ["pi-launcher",
                                                                                  "pi-worker-0.pi.default.svc"])
    assert _log(stub_bin, "nslookup.log") == ["pi-launcher", "pi-worker-0.pi.default.svc"]


def test_launcher_entrypoint_retries_ten_times_doubling_from_a_tenth_of_a_second_then_carries_on(
        stub_bin: Path) -> None:
    result = _run_entrypoint(stub_bin, "launcher", "pi-worker-0:1\n", ["pi-launcher"])
    assert result.returncode == 0
    assert _log(stub_bin, "sleep.log") == ["0.100", "0.200", "0.400", "0.800", "1.600", "3.200", "6.400",
                                           "12.800", "25.600", "51.200"]
    assert _log(stub_bin, "nslookup.log") == ["pi-launcher", *["pi-worker-0"] * 11]
    assert "Couldn't resolve pi-worker-0" in result.stdout
    assert result.stdout.splitlines()[-1] == "ran mpirun"


def test_worker_entrypoint_runs_its_arguments_without_dns_checks(stub_bin: Path) -> None:
    result = _run_entrypoint(stub_bin, "worker", "pi-worker-0:1\n", [])
    assert result.stdout.splitlines() == ["ran mpirun"]
    assert _log(stub_bin, "nslookup.log") == []
