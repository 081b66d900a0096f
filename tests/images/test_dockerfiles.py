"""Properties of the container images that MPIJobs and the Deployment rely on, read from the Dockerfiles.

No Docker engine is needed: hadolint checks each Dockerfile, and the tests below check what matters to users
(non-root numeric USER, sshd/ssh on port 2222, the non-root sshd config, the paths the example MPIJobs use,
pinned base images, the operator image's entrypoint).
"""

from __future__ import annotations

import re
import shutil
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


# --- the launcher's wait for the workers: wait-for-hosts, the mpirun wrapper, the entrypoint -----------------


def test_every_mpi_image_has_the_waiting_mpirun_first_on_its_path() -> None:
    _, base = _final(IMAGES / "base/Dockerfile")
    copies = [c.args for c in base.all("COPY")]
    assert "--chmod=0755 common/wait-for-hosts /usr/local/bin/wait-for-hosts" in copies
    assert "--chmod=0755 common/mpirun /usr/local/bin/mpirun" in copies
    _, pypi = _final(IMAGES / "pypi/Dockerfile")
    path = next(e.args for e in pypi.all("ENV") if e.args.startswith("PATH=")).removeprefix("PATH=").split(":")
    assert path.index("/usr/local/bin") < path.index("/opt/mpi/bin")


@pytest.mark.parametrize("image", ["intel", "mpich", "pypi"])
def test_intel_mpich_and_pypi_images_run_the_waiting_entrypoint(image: str) -> None:
    _, final = _final(IMAGES / image / "Dockerfile")
    assert final.all("ENTRYPOINT")[-1].exec_form() == ["/entrypoint.sh"]
    assert "--chmod=0755 common/entrypoint.sh /entrypoint.sh" in [c.args for c in final.all("COPY")]


@pytest.fixture
def stub_bin(tmp_path: Path) -> Path:
    """Stand-ins that log their calls: getent (succeeds for names in `resolvable`), ssh -G (port 2222),
    timeout (the TCP check: succeeds for host:port in `listening`), sleep, and the image's real mpirun in a
    directory later on PATH."""
    bin_dir = tmp_path / "bin"
    real_dir = tmp_path / "real"
    bin_dir.mkdir()
    real_dir.mkdir()
    (bin_dir / "getent").write_text(
        f'#!/bin/bash\necho "$2" >> {tmp_path}/getent.log\ngrep -qxF "$2" {tmp_path}/resolvable\n')
    (bin_dir / "ssh").write_text('#!/bin/bash\n[ "$1" = -G ] && printf "user x\\nhostname %s\\nport 2222\\n" "$2"\n')
    (bin_dir / "timeout").write_text(
        f'#!/bin/bash\necho "$5:$6" >> {tmp_path}/tcp.log\ngrep -qxF "$5:$6" {tmp_path}/listening\n')
    (bin_dir / "sleep").write_text(f'#!/bin/bash\necho "$1" >> {tmp_path}/sleep.log\n')
    (bin_dir / "wait-for-hosts").symlink_to(IMAGES / "common/wait-for-hosts")
    (bin_dir / "mpirun").symlink_to(IMAGES / "common/mpirun")
    (real_dir / "mpirun").write_text('#!/bin/bash\necho "real mpirun $*"\n')
    for tool in [*bin_dir.iterdir(), real_dir / "mpirun"]:
        if not tool.is_symlink():
            tool.chmod(0o755)
    return bin_dir


WORKER_HOSTS = ["pi-worker-0.pi.default.svc", "pi-worker-1.pi.default.svc"]


def _run(stub_bin: Path, argv: list[str], role: str, hostfile: str, resolvable: list[str], listening: list[str],
         **env: str) -> subprocess.CompletedProcess[str]:
    work = stub_bin.parent
    (work / "resolvable").write_text("".join(f"{h}\n" for h in resolvable))
    (work / "listening").write_text("".join(f"{h}\n" for h in listening))
    (work / "hostfile").write_text(hostfile)
    full_env = {"PATH": f"{stub_bin}:{work / 'real'}:/usr/bin:/bin", "K_MPI_JOB_ROLE": role,
                "HOSTNAME": "pi-launcher", "MPI_HOSTFILE": str(work / "hostfile"), **env}
    return subprocess.run(argv, env=full_env, capture_output=True, text=True, timeout=30)


def _run_entrypoint(stub_bin: Path, role: str, hostfile: str, resolvable: list[str], listening: list[str],
                **env: str) -> subprocess.CompletedProcess[str]:
    return _run(stub_bin, ["bash", str(IMAGES / "common/entrypoint.sh"), "echo", "ran", "mpirun"], role, hostfile,
                resolvable, listening, **env)


def _log(stub_bin: Path, name: str) -> list[str]:
    path = stub_bin.parent / name
    return path.read_text().split() if path.exists() else []


def test_launcher_waits_for_itself_and_every_host_to_resolve_and_take_ssh_connections(stub_bin: Path) -> None:
    result = _run_entrypoint(stub_bin, "launcher", "".join(f"{h}:1\n" for h in WORKER_HOSTS),
                         ["pi-launcher", *WORKER_HOSTS], [f"{h}:2222" for h in WORKER_HOSTS])
    assert result.returncode == 0
    assert result.stdout.splitlines()[-1] == "ran mpirun"
    assert _log(stub_bin, "getent.log") == ["pi-launcher", *WORKER_HOSTS]
    assert _log(stub_bin, "tcp.log") == [f"{h}:2222" for h in WORKER_HOSTS]   # not its own name
    assert _log(stub_bin, "sleep.log") == []


def test_open_mpi_style_hostfile_lines_and_the_launcher_as_a_worker(stub_bin: Path) -> None:
    hostfile = "pi-launcher.pi.default.svc slots=2\npi-worker-0.pi.default.svc slots=2\n"
    _run_entrypoint(stub_bin, "launcher", hostfile, ["pi-launcher", "pi-launcher.pi.default.svc", WORKER_HOSTS[0]],
                [f"{WORKER_HOSTS[0]}:2222"])
    assert _log(stub_bin, "getent.log") == ["pi-launcher", "pi-launcher.pi.default.svc", WORKER_HOSTS[0]]
    assert _log(stub_bin, "tcp.log") == [f"{WORKER_HOSTS[0]}:2222"]   # the launcher runs no sshd of its own
    assert _log(stub_bin, "sleep.log") == []


def test_the_wait_is_bounded_doubling_from_a_tenth_of_a_second_and_never_fails_the_job(stub_bin: Path) -> None:
    """A worker that resolves but whose sshd never listens: retried within the budget, then named, and the
    command runs anyway (MPI then reports its own error)."""
    result = _run_entrypoint(stub_bin, "launcher", f"{WORKER_HOSTS[0]}:1\n", ["pi-launcher", WORKER_HOSTS[0]], [],
                         MPI_WAIT_FOR_HOSTS_MS="5000")
    assert result.returncode == 0
    assert _log(stub_bin, "sleep.log") == ["0.100", "0.200", "0.400", "0.800", "1.600", "1.600", "1.600"]
    assert len(_log(stub_bin, "tcp.log")) == 8
    assert f"gave up on {WORKER_HOSTS[0]} after 6300 ms: nothing accepts TCP on {WORKER_HOSTS[0]}:2222" in result.stdout
    assert result.stdout.splitlines()[-1] == "ran mpirun"


def test_a_name_that_does_not_resolve_yet_is_retried_until_it_does(stub_bin: Path) -> None:
    (stub_bin / "getent").write_text(  # resolvable from the third lookup of the worker on
        f'#!/bin/bash\necho "$2" >> {stub_bin.parent}/getent.log\n'
        f'[ "$2" = pi-launcher ] || [ "$(grep -c . {stub_bin.parent}/getent.log)" -ge 4 ]\n')
    result = _run_entrypoint(stub_bin, "launcher", f"{WORKER_HOSTS[0]}:1\n", [], [f"{WORKER_HOSTS[0]}:2222"])
    assert _log(stub_bin, "sleep.log") == ["0.100", "0.200"]
    assert f"reached {WORKER_HOSTS[0]} (300 ms)" in result.stdout


def test_workers_run_their_arguments_without_waiting(stub_bin: Path) -> None:
    result = _run_entrypoint(stub_bin, "worker", f"{WORKER_HOSTS[0]}:1\n", [], [])
    assert result.stdout.splitlines() == ["ran mpirun"]
    assert _log(stub_bin, "getent.log") == []


def test_the_mpirun_wrapper_waits_on_the_launcher_then_runs_the_next_mpirun_on_path(stub_bin: Path) -> None:
    result = _run(stub_bin, ["mpirun", "-n", "2", "/home/mpiuser/pi"], "launcher", f"{WORKER_HOSTS[0]}:1\n",
                  ["pi-launcher", WORKER_HOSTS[0]], [f"{WORKER_HOSTS[0]}:2222"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["real mpirun -n 2 /home/mpiuser/pi"]
    assert _log(stub_bin, "tcp.log") == [f"{WORKER_HOSTS[0]}:2222"]


@pytest.mark.parametrize(("role", "env"), [("worker", {}), ("launcher", {"MPI_OPERATOR_HOSTS_WAITED": "1"})])
def test_the_mpirun_wrapper_waits_only_once_and_only_on_the_launcher(stub_bin: Path, role: str,
                                                                     env: dict[str, str]) -> None:
    result = _run(stub_bin, ["mpirun", "--version"], role, f"{WORKER_HOSTS[0]}:1\n", [], [], **env)
    assert result.stdout.splitlines() == ["real mpirun --version"]
    assert _log(stub_bin, "getent.log") == []


def test_the_mpirun_wrapper_says_so_when_the_image_has_no_mpi(stub_bin: Path) -> None:
    (stub_bin.parent / "real" / "mpirun").unlink()
    for tool in ("bash", "dirname"):   # a PATH without the node's own MPI
        (stub_bin / tool).symlink_to(shutil.which(tool) or tool)
    result = _run(stub_bin, ["mpirun"], "worker", "", [], [], PATH=f"{stub_bin}:{stub_bin.parent / 'real'}")
    assert result.returncode == 127 and "no MPI launcher on PATH" in result.stderr
