"""`mpi-operator validate -f FILE...`: offline defaulting and validation of MPIJob files.

Subprocess tests cover the real command line (flags, stdin, exit codes, no tracebacks); in-process tests
of `validate_files` cover the per-document reporting."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mpi_operator.api.documents import load_documents, validate_files
from tests.api.builders import job_doc, with_field
from tests.conftest import REPO, examples_dir

EXAMPLES = sorted(examples_dir().glob("*.yaml"))
INVALID = with_field(with_field(job_doc(name="bad"), "spec.slotsPerWorker", -1),
                     "spec.mpiReplicaSpecs.Launcher.replicas", 2)


def run_validate(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mpi_operator", "validate", *args], input=stdin,
                          capture_output=True, text=True, cwd=REPO, timeout=60)


def validate(text: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = validate_files(["-"], out, err, stdin=io.StringIO(text))
    return status, out.getvalue(), err.getvalue()


def dump(*docs: object) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


# The command line

def test_every_example_file_validates() -> None:
    args = [arg for path in EXAMPLES for arg in ("-f", str(path))]
    result = run_validate(*args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == [f"{path}: {_name(path)}: valid" for path in EXAMPLES]


def _name(path: Path) -> str:
    return str(next(yaml.safe_load_all(path.read_text()))["metadata"]["name"])


def test_invalid_file_exits_one_listing_every_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(dump(INVALID))
    result = run_validate("-f", str(EXAMPLES[0]), "-f", str(bad))
    assert result.returncode == 1
    assert result.stdout == f"{EXAMPLES[0]}: {_name(EXAMPLES[0])}: valid\n"
    assert result.stderr.splitlines() == [
        f"{bad}: ns/bad: spec.mpiReplicaSpecs[Launcher].replicas: Invalid value: 2: must be 1",
        f"{bad}: ns/bad: spec.slotsPerWorker: Invalid value: -1: must be greater than or equal to 0",
    ]


def test_standard_input_is_read_with_a_dash() -> None:
    result = run_validate("-f", "-", stdin=dump(job_doc()))
    assert (result.returncode, result.stdout, result.stderr) == (0, "<stdin>: ns/pi: valid\n", "")


def test_bad_type_is_a_field_error_not_a_traceback() -> None:
    result = run_validate("-f", "-", stdin=dump(with_field(job_doc(), "spec.mpiReplicaSpecs.Worker.replicas", "abc")))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr == ('<stdin>: ns/pi: spec.mpiReplicaSpecs[Worker].replicas: Invalid value: "abc": '
                             "must be an integer\n")


def test_yaml_syntax_error_is_reported_without_a_traceback() -> None:
    result = run_validate("-f", "-", stdin="spec: [\n")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("<stdin>: invalid YAML: ")
    assert "(line 2, column 1)" in result.stderr


def test_missing_file_is_reported_and_fails(tmp_path: Path) -> None:
    result = run_validate("-f", str(tmp_path / "nope.yaml"), "-f", str(EXAMPLES[0]))
    assert result.returncode == 1
    assert result.stderr == f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory\n"
    assert result.stdout.endswith(": valid\n")


def test_filename_flag_is_required() -> None:
    assert run_validate().returncode == 2


# Per-document reporting

def test_each_document_of_a_multi_document_file_is_reported() -> None:
    unnamed = job_doc()
    del unnamed["metadata"]  # so its label is its position; nameless jobs fail the DNS check
    status, out, err = validate(dump(job_doc(name="a"), unnamed, INVALID, job_doc(name="b")) + "---\n")
    assert status == 1
    assert out == "<stdin>: ns/a: valid\n<stdin>: ns/b: valid\n"
    assert [line.split(": ")[1] for line in err.splitlines()] == ["#2", "ns/bad", "ns/bad"]
    assert err.startswith('<stdin>: #2: metadata.name: Invalid value: "": ')


def test_documents_before_a_syntax_error_are_still_checked() -> None:
    status, out, err = validate(dump(job_doc()) + "---\nspec: [\n")
    assert status == 1
    assert out == "<stdin>: ns/pi: valid\n"
    assert err.startswith("<stdin>: invalid YAML: ")


def test_name_without_namespace_is_the_label() -> None:
    doc = job_doc()
    del doc["metadata"]["namespace"]
    assert validate(dump(doc)) == (0, "<stdin>: pi: valid\n", "")


def test_objects_of_other_kinds_are_skipped() -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    status, out, _ = validate(dump(config_map, job_doc()))
    assert status == 0
    assert out == "<stdin>: c: skipped: kind ConfigMap is not MPIJob\n<stdin>: ns/pi: valid\n"


def test_a_misspelt_kind_is_an_error_not_a_skip() -> None:
    status, _, err = validate(dump(with_field(job_doc(), "kind", "MPIjob")))
    assert status == 1
    assert err == '<stdin>: ns/pi: kind: Unsupported value: "MPIjob": supported values: "MPIJob"\n'


def test_list_items_are_validated() -> None:
    status, out, err = validate(dump({"apiVersion": "v1", "kind": "List", "items": [job_doc(), INVALID]}))
    assert status == 1
    assert out == "<stdin>: ns/pi: valid\n"
    assert "<stdin>: ns/bad: spec.slotsPerWorker" in err


@pytest.mark.parametrize("text", ["", "---\n", "# only a comment\n"])
def test_a_file_without_mpijobs_fails(text: str) -> None:
    assert validate(text) == (1, "", "<stdin>: no MPIJob documents found\n")


def test_a_document_that_is_not_an_object_is_reported() -> None:
    status, _, err = validate("just text\n")
    assert status == 1
    assert err == '<stdin>: #1: Invalid value: "just text": an MPIJob must be an object\n'


def test_timestamps_stay_strings_as_in_kubernetes() -> None:
    doc = with_field(job_doc(), "status.startTime", "2026-01-02T03:04:05Z")
    text = dump(doc).replace("'2026-01-02T03:04:05Z'", "2026-01-02T03:04:05Z")
    assert load_documents(text)[0]["status"]["startTime"] == "2026-01-02T03:04:05Z"
    assert validate(text)[0] == 0
