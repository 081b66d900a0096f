"""A bad flag of any command is one line naming the flag (or the environment variable behind it) and what is
allowed, exit 2, checked before anything starts: no traceback, no usage block."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

import pytest

from mpi_operator.cli import FlagError, parse_operator_settings
from mpi_operator.cliflags import run_guarded
from mpi_operator.demo import parser as demo_parser
from mpi_operator.render import parser as render_parser
from mpi_operator.sandbox_command import parser as sandbox_parser

OPERATOR_CASES = [
    (["--threadiness", "0"], "--threadiness=0: must be an integer of at least 1"),
    (["--threadiness", "two"], "argument --threadiness: 'two' is not an integer of at least 1"),
    (["--kube-api-qps", "0"], "--kube-api-qps=0.0: must be a number greater than 0"),
    (["--kube-api-qps", "nan"], "--kube-api-qps=nan: must be a number greater than 0"),
    (["--kube-api-burst", "-1"], "--kube-api-burst=-1: must be an integer of at least 1"),
    (["--controller-queue-rate-limit", "0"], "--controller-queue-rate-limit=0.0: must be a number greater than 0"),
    (["--controller-queue-burst", "0"], "--controller-queue-burst=0: must be an integer of at least 1"),
    (["--monitoring-port", "99999"], "--monitoring-port=99999: must be an integer from 0 to 65535"),
    (["--health-port", "-1"], "--health-port=-1: must be an integer from 0 to 65535"),
    (["--leader-elect-lease-duration", "0"], "--leader-elect-lease-duration=0.0: must be a number greater than 0"),
    (["--leader-elect-retry-period", "inf"], "--leader-elect-retry-period=inf: must be a number greater than 0"),
    (["--leader-elect-lease-duration", "5"],
     "leader election needs --leader-elect-lease-duration (5) > --leader-elect-renew-deadline (10) > 1.2 x "
     "--leader-elect-retry-period (2)"),
    (["--shutdown-grace-period", "-1"], "--shutdown-grace-period=-1.0: must be a number of at least 0"),
    (["--log-level", "FOO"], "--log-level=FOO: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    (["--log-format", "xml"], "argument --log-format: invalid choice: 'xml'"),
    (["--namespace", "Team_A"], "--namespace=Team_A: must be a namespace name"),
    (["--lock-namespace", ""], "--lock-namespace=: must be a namespace name"),
    (["--master", "10.0.0.1:6443"], "--master=10.0.0.1:6443: must be the API server's URL"),
    (["--master", "https://10.0.0.1:99999"], "--master=https://10.0.0.1:99999: has a port that is not a number"),
]


def problem_of(argv: Sequence[str]) -> str:
    """The one-line problem the operator's flag parsing reports."""
    try:
        parse_operator_settings(argv)
    except FlagError as exc:
        return str(exc)
    raise AssertionError(f"{argv} was accepted")


@pytest.mark.parametrize("argv, expected", OPERATOR_CASES, ids=[" ".join(a) for a, _ in OPERATOR_CASES])
def test_operator_flag_problems_name_the_flag_and_the_range(argv: list[str], expected: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    try:
        message = problem_of(argv)
    except SystemExit as exit_:  # argparse-level problems (syntax, choices)
        assert exit_.code == 2
        message = capsys.readouterr().err
        assert message.count("\n") == 2, "one line and the pointer to --help"
    assert expected in message


def test_a_value_from_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEFLOW_NAMESPACE", "Not_A_Namespace")
    assert problem_of([]).startswith("$KUBEFLOW_NAMESPACE=Not_A_Namespace: must be a namespace name")
    # A flag given explicitly wins over the variable, and is what gets checked.
    settings, _ = parse_operator_settings(["--namespace", "team-a"])
    assert settings.namespace == "team-a"


def test_valid_edge_values_are_accepted() -> None:
    settings, _ = parse_operator_settings(["--health-port", "0", "--monitoring-port", "65535", "--log-level", "warn",
                                           "--master", "https://[::1]:6443", "--shutdown-grace-period", "0"])
    assert (settings.health_port, settings.monitoring_port, settings.log_level) == (0, 65535, "WARNING")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mpi_operator", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, expected", [
    (("run", "--threadiness", "0"), "mpi-operator run: --threadiness=0: must be an integer of at least 1"),
    (("--kube-api-qps=-3",), "mpi-operator run: --kube-api-qps=-3.0: must be a number greater than 0"),
    (("sandbox", "--port", "99999"), "mpi-operator sandbox: argument --port: '99999' is not allowed: must be an "
                                     "integer from 0 to 65535"),
    (("demo", "--timeout", "0"), "mpi-operator demo: argument --timeout: '0' is not allowed: must be a number of "
                                 "seconds greater than 0"),
    (("render", "-f", "x.yaml", "-n", "Bad"), "mpi-operator render: argument --namespace/-n: 'Bad' is not a "
                                              "namespace name"),
    (("validate",), "mpi-operator validate: the following arguments are required: -f/--filename"),
    (("crd", "extra"), "mpi-operator crd: unrecognized arguments: extra"),
    (("bogus",), "mpi-operator: unknown command 'bogus'; commands: run, validate, crd, render, sandbox, demo"),
])
def test_every_command_reports_a_bad_flag_in_one_line(args: tuple[str, ...], expected: str) -> None:
    out = run(*args)
    assert out.returncode == 2
    assert out.stderr.splitlines()[0].startswith(expected), out.stderr
    assert len(out.stderr.splitlines()) <= 2 and "Traceback" not in out.stderr and "usage:" not in out.stderr


@pytest.mark.parametrize("argv, expected", [
    (["--faults", "error=2"], "argument --faults: error='2': must be a probability from 0 to 1"),
    (["--faults", "error_code=404"], "error_code='404': must be 409, 429 or a 5xx code"),
    (["--faults", "latency=-1"], "latency='-1': must be a number of seconds, 0 or more"),
    (["--faults", "verbs="], "verbs='': must be names separated by |"),
    (["--faults", "colour=red"], "unknown fault setting 'colour'"),
    (["--start-delay", "-0.5"], "argument --start-delay: '-0.5' is not allowed: must be a number of seconds at "
                                "least 0"),
    (["--run-seconds", "nan"], "argument --run-seconds: 'nan' is not allowed"),
    (["--log-level", "loud"], "argument --log-level: 'loud' is not a log level"),
])
def test_sandbox_flags_are_checked_when_parsed(argv: list[str], expected: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        sandbox_parser().parse_args(argv)
    assert exit_.value.code == 2
    assert expected in capsys.readouterr().err


def test_sandbox_run_seconds_may_be_infinite() -> None:
    assert sandbox_parser().parse_args(["--run-seconds", "inf"]).run_seconds == float("inf")


@pytest.mark.parametrize("parser, argv, expected", [
    (demo_parser, ["--port", "-1"], "argument --port: '-1' is not allowed"),
    (demo_parser, ["--metrics-port", "70000"], "argument --metrics-port: '70000' is not allowed"),
    (demo_parser, ["--log-level", "x"], "argument --log-level: 'x' is not a log level"),
    (render_parser, ["-f", "j.yaml", "-n", "Team_A"], "argument --namespace/-n: 'Team_A' is not a namespace"),
])
def test_demo_and_render_flags_are_checked_when_parsed(parser: object, argv: list[str], expected: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(argv)  # type: ignore[operator]
    assert expected in capsys.readouterr().err


def test_an_unexpected_failure_is_one_line_and_the_traceback_needs_debug(capsys: pytest.CaptureFixture[str]) -> None:
    def broken(_argv: Sequence[str]) -> int:
        raise RuntimeError("disk on fire")

    assert run_guarded("mpi-operator x", broken, []) == 1
    err = capsys.readouterr().err
    assert err.startswith("mpi-operator x: unexpected error: RuntimeError: disk on fire\n")
    assert "Traceback" not in err
    assert run_guarded("mpi-operator x", broken, ["--log-level", "debug"]) == 1
    assert "Traceback" in capsys.readouterr().err
