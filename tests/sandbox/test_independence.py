"""The sandbox is its own part: no module of it imports anything of the operator, so one shared misreading of the
Kubernetes API cannot hide on both sides of the wire. It reads the MPIJob CRD from the file that ships."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import REPO

SANDBOX = REPO / "mpi_operator" / "sandbox"


def _imported_modules(path: ast.Module) -> list[str]:
    names: list[str] = []
    for node in ast.walk(path):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("mpi_operator."):
            names.append(node.value)  # importlib.import_module("mpi_operator....")
    return names


def test_no_sandbox_module_imports_the_operator() -> None:
    outside = {
        f"{path.relative_to(REPO)}: {name}"
        for path in sorted(SANDBOX.rglob("*.py"))
        for name in _imported_modules(ast.parse(path.read_text()))
        if name.startswith("mpi_operator") and name != "mpi_operator.sandbox"
        and not name.startswith("mpi_operator.sandbox.")
    }
    assert not outside, f"the sandbox imports the operator: {sorted(outside)}"


def test_loading_the_sandbox_loads_no_operator_module() -> None:
    script = (
        "import pkgutil, sys, importlib, mpi_operator.sandbox as sb\n"
        "for m in pkgutil.walk_packages(sb.__path__, 'mpi_operator.sandbox.'): importlib.import_module(m.name)\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('mpi_operator'))))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO,
                          check=True)
    loaded = done.stdout.split()
    assert "mpi_operator.sandbox.apiserver.storage" in loaded or "mpi_operator.sandbox.apiserver.storage" in loaded
    assert [m for m in loaded if m != "mpi_operator" and not m.startswith("mpi_operator.sandbox")] == []
