"""`mpi-operator render -f FILE`: the objects the operator would create, offline, keys redacted.

Subprocess tests cover the real command line (objects, names, exit codes, no key material); in-process tests
of `render_files` cover suspend, WaitForWorkersReady, gang scheduling and the namespace/uid placeholders."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mpi_operator.controller.options import ControllerOptions
from mpi_operator.render import PLACEHOLDER_UID, REDACTED, render_files
from tests.api.builders import job_doc, with_field
from tests.conftest import REPO

PI = REPO / "tests" / "data" / "examples" / "pi.yaml"
EXAMPLES = sorted((REPO / "tests" / "data" / "examples").glob("*.yaml"))


def run_render(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mpi_operator", "render", *args], input=stdin,
                          capture_output=True, text=True, cwd=REPO, timeout=60)


def kinds_and_names(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(obj["kind"], obj["metadata"]["name"]) for obj in objects]


def render(doc: dict[str, Any], options: ControllerOptions | None = None,
           namespace: str = "default") -> tuple[int, list[dict[str, Any]], str]:
    out, err = io.StringIO(), io.StringIO()
    status = render_files(["-"], options or ControllerOptions(), namespace, out, err,
                          stdin=io.StringIO(yaml.safe_dump(doc)))
    return status, list(yaml.safe_load_all(out.getvalue())), err.getvalue()


# The command line

def test_pi_renders_every_object_in_creation_order() -> None:
    result = run_render("-f", str(PI))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    objects = list(yaml.safe_load_all(result.stdout))
    assert kinds_and_names(objects) == [
        ("Service", "pi"), ("ConfigMap", "pi-config"), ("Secret", "pi-ssh"),
        ("Pod", "pi-worker-0"), ("Pod", "pi-worker-1"), ("Job", "pi-launcher"),
    ]
    assert {obj["metadata"]["namespace"] for obj in objects} == {"default"}
    assert {obj["metadata"]["ownerReferences"][0]["uid"] for obj in objects} == {PLACEHOLDER_UID}
    configmap = objects[1]
    assert configmap["data"]["hostfile"] == "pi-worker-0.pi.default.svc slots=1\npi-worker-1.pi.default.svc slots=1\n"


def test_no_key_material_is_printed() -> None:
    result = run_render("-f", str(PI))
    assert "PRIVATE KEY" not in result.stdout
    assert "ecdsa-sha2" not in result.stdout
    secret = next(obj for obj in yaml.safe_load_all(result.stdout) if obj["kind"] == "Secret")
    assert secret["type"] == "kubernetes.io/ssh-auth"
    assert secret["data"] == {"ssh-privatekey": REDACTED, "ssh-publickey": REDACTED}


def test_every_example_renders() -> None:
    args = [arg for path in EXAMPLES for arg in ("-f", str(path))]
    result = run_render(*args)
    assert result.returncode == 0, result.stderr
    jobs = [obj for obj in yaml.safe_load_all(result.stdout) if obj["kind"] == "Job"]
    assert len(jobs) == len(EXAMPLES)


def test_flags_shape_hostfile_namespace_and_gang(tmp_path: Path) -> None:
    result = run_render("-f", str(PI), "--cluster-domain", "example.org", "--gang-scheduling", "volcano",
                        "--namespace", "team")
    assert result.returncode == 0, result.stderr
    objects = list(yaml.safe_load_all(result.stdout))
    assert objects[1]["data"]["hostfile"].splitlines()[0] == "pi-worker-0.pi.team.svc.example.org slots=1"
    assert ("PodGroup", "pi") in kinds_and_names(objects)
    assert all(obj["metadata"]["namespace"] == "team" for obj in objects)


def test_invalid_job_exits_one_with_field_errors_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_field(job_doc(name="bad"), "spec.mpiReplicaSpecs.Launcher.replicas", 2)))
    result = run_render("-f", str(bad))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"{bad}: ns/bad: spec.mpiReplicaSpecs[Launcher].replicas: Invalid value: 2: must be 1\n"


def test_valid_jobs_still_render_beside_an_invalid_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_field(job_doc(name="bad"), "spec.slotsPerWorker", -1)))
    result = run_render("-f", str(PI), "-f", str(bad))
    assert result.returncode == 1
    assert ("Job", "pi-launcher") in kinds_and_names(list(yaml.safe_load_all(result.stdout)))
    assert "spec.slotsPerWorker: Invalid value: -1" in result.stderr


@pytest.mark.parametrize("text, message", [
    ("a: [", "invalid YAML"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "no MPIJob documents found"),
])
def test_unusable_files_exit_one(text: str, message: str) -> None:
    result = run_render("-f", "-", stdin=text)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_filename_is_a_usage_error() -> None:
    assert run_render().returncode == 2


# What is rendered

def test_suspended_job_gets_no_workers_and_a_suspended_launcher() -> None:
    status, objects, _ = render(with_field(job_doc(), "spec.runPolicy.suspend", True),
                                ControllerOptions(gang_scheduling="volcano"))
    assert status == 0
    assert kinds_and_names(objects) == [("Service", "pi"), ("ConfigMap", "pi-config"), ("Secret", "pi-ssh"),
                                        ("Job", "pi-launcher")]
    assert objects[-1]["spec"]["suspend"] is True


def test_gang_scheduling_adds_a_podgroup_before_the_workers() -> None:
    status, objects, _ = render(job_doc(), ControllerOptions(gang_scheduling="my-scheduler"))
    assert status == 0
    assert kinds_and_names(objects)[3] == ("PodGroup", "pi")
    assert objects[3]["apiVersion"] == "scheduling.x-k8s.io/v1alpha1"
    assert objects[3]["spec"]["minMember"] == 3
    assert objects[4]["spec"]["schedulerName"] == "my-scheduler"


def test_job_namespace_and_uid_are_kept_when_given() -> None:
    doc = with_field(job_doc(), "metadata.uid", "1234")
    status, objects, _ = render(doc, namespace="other")
    assert status == 0
    assert {obj["metadata"]["namespace"] for obj in objects} == {"ns"}
    assert {obj["metadata"]["ownerReferences"][0]["uid"] for obj in objects} == {"1234"}


def test_wait_for_workers_ready_launcher_is_marked_in_a_comment() -> None:
    doc = with_field(job_doc(), "spec.launcherCreationPolicy", "WaitForWorkersReady")
    out, err = io.StringIO(), io.StringIO()
    assert render_files(["-"], ControllerOptions(), "default", out, err, stdin=io.StringIO(yaml.safe_dump(doc))) == 0
    assert "Job pi-launcher (created once every worker pod is Ready" in out.getvalue()


def test_other_kinds_are_skipped_with_a_note() -> None:
    text = yaml.safe_dump_all([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, job_doc()])
    out, err = io.StringIO(), io.StringIO()
    assert render_files(["-"], ControllerOptions(), "default", out, err, stdin=io.StringIO(text)) == 0
    assert "x: skipped: kind ConfigMap is not MPIJob" in err.getvalue()


@pytest.mark.parametrize(("example", "wanted"), [
    ("pi.yaml", {"OMPI_MCA_orte_default_hostfile": "/etc/mpi/hostfile",
                 "PRTE_MCA_prte_default_hostfile": "/etc/mpi/hostfile",
                 "PRTE_MCA_plm_ssh_args": "-o ConnectionAttempts=10", "PRTE_MCA_prte_set_default_slots": "1"}),
    ("pi-mpich.yaml", {"HYDRA_HOST_FILE": "/etc/mpi/hostfile",
                       "HYDRA_LAUNCHER_EXTRA_ARGS": "-o ConnectionAttempts=10"}),
])
def test_render_of_the_shared_examples_gives_the_launcher_the_variables_every_mpi_reads(
        example: str, wanted: dict[str, str]) -> None:
    """decisions Q42: Open MPI 5 (PRRTE) ignores OMPI_MCA_orte_*, Hydra reads HYDRA_LAUNCHER_EXTRA_ARGS."""
    result = run_render("-f", str(EXAMPLES[0].parent / example))
    assert result.returncode == 0, result.stderr
    job = next(obj for obj in yaml.safe_load_all(result.stdout) if obj["kind"] == "Job")
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env.items() >= wanted.items(), env
    assert "PRTE_MCA_prte_keep_fqdn_hostnames" not in env   # no real run needed it (docs/images.md)
