"""The operator installed as its image installs it: the wheel and its base dependencies only, no `sandbox` extra.

The wheel is built offline from a copy of what the image's builder copies (pyproject.toml, README.md,
mpi_operator/); a fresh virtualenv gets it with `pip install --no-deps` and, linked from this environment, exactly
the distributions its base requirements resolve to (evaluated from the wheel's own metadata, so a dependency added
to the base set is in, one added only to an extra is out). `pip check` proves that set complete. In it the
operator imports, starts, and runs the pi example to Succeeded against a sandbox served from the dev environment;
`mpi-operator sandbox` and `demo` say which extra to install.
"""

from __future__ import annotations

import asyncio
import email
import importlib.metadata as metadata
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mpi_operator.sandbox import Sandbox
from tests.conftest import REPO, examples_dir

SANDBOX_ONLY = ("cel", "jsonpatch", "uvloop")  # the modules of the sandbox extra's distributions
MPIJOBS = "mpijobs.kubeflow.org"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Install:
    venv: Path
    wheel: Path
    distributions: set[str]   # canonical names, the operator's own included

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        # Run from the venv, not the repository: the source tree must not shadow the installed package.
        return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, cwd=self.venv, env=env)


def _build_wheel(workdir: Path) -> Path:
    source = workdir / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "mpi_operator", source / "mpi_operator",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheels = workdir / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(wheels), str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("mpi_operator-*.whl")
    return wheel


def _base_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(archive.read(name))
    return [Requirement(text) for text in meta.get_all("Requires-Dist") or []]


def _closure(requirements: list[Requirement]) -> dict[str, metadata.Distribution]:
    """The installed distributions that `requirements` (no extras) resolve to, transitively."""
    found: dict[str, metadata.Distribution] = {}
    todo = list(requirements)
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = canonicalize_name(req.name)
        if key in found:
            continue
        dist = metadata.distribution(req.name)
        assert dist.version in req.specifier or not req.specifier, f"{req} but {dist.version} is installed"
        found[key] = dist
        todo += [Requirement(text) for text in dist.requires or []]
    return found


def _link(dist: metadata.Distribution, site: Path) -> None:
    """Make `dist` importable in `site` by linking its top-level files and directories (RECORD lists them)."""
    for top in {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
        target = site / top
        if not target.exists():
            target.symlink_to(Path(str(dist.locate_file(top))))


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    workdir = tmp_path_factory.mktemp("reshape-base-install")
    wheel = _build_wheel(workdir)
    venv = workdir / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    dependencies = _closure(_base_requirements(wheel))
    for dist in dependencies.values():
        _link(dist, site)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True, timeout=300)
    yield Install(venv, wheel, {*dependencies, "mpi-operator"})


def test_the_base_set_is_complete_and_holds_nothing_of_the_sandbox(install: Install) -> None:
    check = subprocess.run([sys.executable, "-m", "pip", "--python", str(install.python), "check"],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    for extra_only in ("common-expression-language", "jsonpatch", "uvloop", "pydantic-settings"):
        assert extra_only not in install.distributions
    probe = "import importlib.util as u, sys; print(*(u.find_spec(m) is None for m in sys.argv[1:]))"
    assert install.run(str(install.python), "-c", probe, *SANDBOX_ONLY).stdout.split() == ["True"] * len(SANDBOX_ONLY)


def test_every_operator_module_imports_without_the_extra(install: Install) -> None:
    script = """
import importlib, pkgutil, sys, mpi_operator
assert mpi_operator.__file__.startswith(sys.argv[1]), mpi_operator.__file__
skip = ("mpi_operator.sandbox", "mpi_operator.sandbox_command", "mpi_operator.demo", "mpi_operator.bench",
        "mpi_operator.__main__")
names = [m.name for m in pkgutil.walk_packages(mpi_operator.__path__, "mpi_operator.")
         if not m.name.startswith(skip)]
for name in names:
    importlib.import_module(name)
print(len(names))
"""
    done = install.run(str(install.python), "-c", script, str(install.venv))
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 50


def test_mpi_operator_run_help_works_without_the_extra(install: Install) -> None:
    done = install.run(str(install.venv / "bin" / "mpi-operator"), "run", "--help")
    assert done.returncode == 0, done.stderr
    assert "--threadiness" in done.stdout


@pytest.mark.parametrize("command", ["sandbox", "demo"])
def test_the_sandbox_commands_name_the_extra_to_install(install: Install, command: str) -> None:
    done = install.run(str(install.venv / "bin" / "mpi-operator"), command)
    assert done.returncode == 1
    assert done.stderr.startswith(f"mpi-operator {command}: the sandbox's dependencies are not installed")
    assert "pip install 'mpi-operator[sandbox]'" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1


@pytest_asyncio.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(port=0, simulate=True) as sb:
        yield sb


async def test_the_slim_operator_runs_the_pi_example_to_succeeded(install: Install, sandbox: Sandbox) -> None:
    job = yaml.safe_load((examples_dir() / "pi.yaml").read_text())
    job["metadata"]["namespace"] = "default"
    log = install.venv / "operator.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            str(install.venv / "bin" / "mpi-operator"), "run", "--kubeconfig", str(sandbox.kubeconfig_path),
            "--health-port", str(free_port()), "--monitoring-port", "0", "--no-leader-elect", cwd=install.venv,
            stdout=out, stderr=subprocess.STDOUT)
    try:
        sandbox.store.create(MPIJOBS, "default", job)
        deadline = time.monotonic() + 60
        while True:
            conditions = (sandbox.store.get(MPIJOBS, "default", job["metadata"]["name"]).get("status") or {}).get(
                "conditions") or []
            if any(c["type"] == "Succeeded" and c["status"] == "True" for c in conditions):
                break
            assert proc.returncode is None, f"the operator exited:\n{log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"not Succeeded within 60 s: {conditions}\n{log.read_text()[-2000:]}"
            await asyncio.sleep(0.1)
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
    assert proc.returncode == 0, log.read_text()[-2000:]
