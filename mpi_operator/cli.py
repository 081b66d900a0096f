"""The `mpi-operator` command line.

`mpi-operator [flags]` runs the operator like upstream's binary (so upstream Deployment args keep
working); subcommands: run, validate, crd, render, sandbox, demo, controlplane, node-agent. Flags accept
one or two dashes, like Go's flag package, and the klog flags upstream manifests pass are accepted and ignored.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from mpi_operator import __version__
from mpi_operator.cliflags import USAGE_EXIT, OneLineParser, run_guarded
from mpi_operator.settings import OperatorSettings, allowed_values, explain_invalid, is_integer

SUBCOMMANDS = ("run", "validate", "crd", "render", "sandbox", "demo", "controlplane", "node-agent")

# klog flags that upstream manifests and users pass; accepted for compatibility, without effect.
_KLOG_BOOL_FLAGS = ("logtostderr", "alsologtostderr", "add_dir_header", "skip_headers", "skip_log_headers",
                    "one_output", "legacy_stderr_threshold_behavior")
_KLOG_VALUE_FLAGS = ("v", "log_dir", "log_file", "log_file_max_size", "stderrthreshold", "vmodule",
                     "log_backtrace_at")

_SINGLE_DASH_LONG = re.compile(r"^-([A-Za-z][A-Za-z0-9_-]*)(=.*)?$")


def normalize_go_flags(argv: Sequence[str]) -> list[str]:
    """Turn Go-style `-flag` into `--flag` so argparse reads upstream's argument lists."""
    out = []
    for arg in argv:
        m = _SINGLE_DASH_LONG.match(arg)
        out.append("-" + arg if m and arg != "-h" else arg)
    return out


class FlagError(Exception):
    """Operator flags (or the environment variables behind them) that cannot work; one line per problem."""


def _number_flag(p: argparse.ArgumentParser, flag: str, help: str) -> None:
    """A numeric flag whose type and default come from OperatorSettings, so a bad number names the range."""
    field = flag.removeprefix("--").replace("-", "_")
    convert = int if is_integer(field) else float

    def parse(text: str) -> float:
        try:
            return convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed_values(field)}") from None

    p.add_argument(flag, type=parse, default=OperatorSettings.model_fields[field].default, help=help)


def _operator_parser(prog: str) -> argparse.ArgumentParser:
    # Syntax (is it a number?) is checked here; ranges and names by OperatorSettings, so they live in one place.
    p = OneLineParser(prog=prog, description="Run the MPIJob operator.")
    p.add_argument("--master", default="", help="API server URL (overrides the kubeconfig)")
    p.add_argument("--kubeconfig", "--kubeConfig", dest="kubeconfig", default="",
                   help="kubeconfig path; a non-empty $KUBECONFIG overrides it")
    p.add_argument("--namespace", default=None,
                   help="watch only this namespace (default $KUBEFLOW_NAMESPACE, else all)")
    _number_flag(p, "--threadiness", "number of reconcile workers")
    _number_flag(p, "--monitoring-port", "port of /metrics; 0 disables")
    p.add_argument("--gang-scheduling", default="",
                   help="'volcano', or the scheduler-plugins scheduler name; empty disables")
    p.add_argument("--lock-namespace", default="mpi-operator", help="namespace of the leader-election Lease")
    _number_flag(p, "--kube-api-qps", "client requests per second")
    _number_flag(p, "--kube-api-burst", "client request burst")
    _number_flag(p, "--controller-queue-rate-limit", "work queue retry token-bucket rate (items/s)")
    _number_flag(p, "--controller-queue-burst", "work queue token-bucket burst")
    p.add_argument("--cluster-domain", default="", help="suffix of host names in the hostfile")
    p.add_argument("--leader-elect", action=argparse.BooleanOptionalAction, default=True,
                   help="run leader election on a Lease (default on)")
    _number_flag(p, "--leader-elect-lease-duration",
                 "seconds a follower waits before taking over a lease that is not renewed")
    _number_flag(p, "--leader-elect-renew-deadline", "seconds the leader keeps trying to renew before it steps down")
    _number_flag(p, "--leader-elect-retry-period", "seconds between tries to acquire or renew the lease")
    _number_flag(p, "--shutdown-grace-period",
                 "seconds in-flight reconciles may take to finish after SIGTERM before they are cancelled")
    _number_flag(p, "--health-port", "port of /healthz and /readyz; 0 disables")
    p.add_argument("--log-format", choices=("text", "json"), default="text")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    p.add_argument("--cache-transform", action=argparse.BooleanOptionalAction, default=True, help=argparse.SUPPRESS)
    for flag in _KLOG_BOOL_FLAGS:
        p.add_argument(f"--{flag}", nargs="?", const="true", default=None, help=argparse.SUPPRESS)
    for flag in _KLOG_VALUE_FLAGS:
        p.add_argument(f"--{flag}", default=None, help=argparse.SUPPRESS)
    return p


def parse_operator_settings(argv: Sequence[str], prog: str = "mpi-operator") -> tuple[OperatorSettings, bool]:
    """Parse operator flags into settings; the bool says --version was asked. Bad values raise FlagError."""
    ns = _operator_parser(prog).parse_args(normalize_go_flags(argv))
    sources = {}
    if ns.namespace is None:
        ns.namespace = OperatorSettings.from_env_defaults()["namespace"]
        sources["namespace"] = "$KUBEFLOW_NAMESPACE"
    fields = OperatorSettings.model_fields
    try:
        settings = OperatorSettings(**{k: v for k, v in vars(ns).items() if k in fields})
    except ValidationError as exc:
        raise FlagError("\n".join(explain_invalid(exc, sources))) from None
    return settings.with_env_overrides(), bool(ns.version)


def print_version() -> None:
    print("API Version: v2")
    print(f"Version: {__version__}")
    print(f"Python Version: {sys.version.split()[0]}")


def cmd_run(argv: Sequence[str]) -> int:
    try:
        settings, version = parse_operator_settings(argv, "mpi-operator run")
    except FlagError as exc:
        for line in str(exc).splitlines():
            print(f"mpi-operator run: {line}", file=sys.stderr)
        print("Run 'mpi-operator run --help' to see the flags.", file=sys.stderr)
        return USAGE_EXIT
    if version:
        print_version()
        return 0
    from mpi_operator.operator import run_operator

    return run_operator(settings)


def cmd_validate(argv: Sequence[str]) -> int:
    p = OneLineParser(prog="mpi-operator validate",
                      description="Apply defaults and validation to MPIJob files, offline.")
    p.add_argument("-f", "--filename", action="append", required=True,
                   help="YAML file (several documents allowed); '-' reads standard input")
    ns = p.parse_args(argv)
    from mpi_operator.api.documents import validate_files

    return validate_files(ns.filename, sys.stdout, sys.stderr)


def cmd_crd(argv: Sequence[str]) -> int:
    OneLineParser(prog="mpi-operator crd", description="Print the MPIJob CRD as YAML.").parse_args(argv)
    from mpi_operator.api.crd import crd_yaml

    sys.stdout.write(crd_yaml())
    return 0


def cmd_render(argv: Sequence[str]) -> int:
    from mpi_operator.render import main as render_main

    return render_main(argv)


SANDBOX_EXTRA = "mpi-operator[sandbox]"


def missing_sandbox_extra(prog: str, exc: ModuleNotFoundError) -> int:
    """`sandbox` and `demo` run the sandbox, whose dependencies (CEL, JSON patch, uvloop) are an extra that the
    operator (and its image) does without: say which one to install instead of a traceback."""
    if (exc.name or "").partition(".")[0] == "mpi_operator":
        raise exc
    print(f"{prog}: the sandbox's dependencies are not installed (no Python module {exc.name!r}); install the "
          f"sandbox extra: pip install '{SANDBOX_EXTRA}'", file=sys.stderr)
    return 1


def cmd_sandbox(argv: Sequence[str]) -> int:
    try:
        from mpi_operator.sandbox_command import main as sandbox_main
    except ModuleNotFoundError as exc:
        return missing_sandbox_extra("mpi-operator sandbox", exc)
    return sandbox_main(argv)


def cmd_demo(argv: Sequence[str]) -> int:
    try:
        from mpi_operator.demo import main as demo_main
    except ModuleNotFoundError as exc:
        return missing_sandbox_extra("mpi-operator demo", exc)
    return demo_main(argv)


def cmd_controlplane(argv: Sequence[str]) -> int:
    from mpi_operator.controlplane.cli import main as controlplane_main

    return controlplane_main(argv)


def cmd_node_agent(argv: Sequence[str]) -> int:
    from mpi_operator.nodeagent.cli import main as node_agent_main

    return node_agent_main(argv)


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "crd": cmd_crd, "render": cmd_render,
            "sandbox": cmd_sandbox, "demo": cmd_demo, "controlplane": cmd_controlplane,
            "node-agent": cmd_node_agent}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help", "help"):
        print(__doc__)
        print("usage: mpi-operator [run] [flags] | validate -f FILE | crd | render -f FILE | sandbox | demo")
        print("       mpi-operator controlplane up | node-agent [flags]")
        print("       mpi-operator run --help  lists the operator flags")
        return 0
    if args and args[0] in COMMANDS:
        return run_guarded(f"mpi-operator {args[0]}", COMMANDS[args[0]], args[1:])
    if args and not args[0].startswith("-"):
        # Upstream's binary takes only flags, so a bare word is a mistyped command, not an operator argument.
        print(f"mpi-operator: unknown command {args[0]!r}; commands: {', '.join(SUBCOMMANDS)} "
              "(or flags alone, to run the operator)", file=sys.stderr)
        return USAGE_EXIT
    return run_guarded("mpi-operator", cmd_run, args)
