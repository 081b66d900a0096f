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

from mpi_operator import __version__
from mpi_operator.settings import OperatorSettings

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


def _operator_parser(prog: str) -> argparse.ArgumentParser:
    env = OperatorSettings.from_env_defaults()
    p = argparse.ArgumentParser(prog=prog, description="Run the MPIJob operator.")
    p.add_argument("--master", default="", help="API server URL (overrides the kubeconfig)")
    p.add_argument("--kubeconfig", "--kubeConfig", dest="kubeconfig", default="",
                   help="kubeconfig path; a non-empty $KUBECONFIG overrides it")
    p.add_argument("--namespace", default=env["namespace"],
                   help="watch only this namespace (default $KUBEFLOW_NAMESPACE, else all)")
    p.add_argument("--threadiness", type=int, default=2, help="number of reconcile workers")
    p.add_argument("--monitoring-port", type=int, default=0, help="port of /metrics; 0 disables")
    p.add_argument("--gang-scheduling", default="",
                   help="'volcano', or the scheduler-plugins scheduler name; empty disables")
    p.add_argument("--lock-namespace", default="mpi-operator", help="namespace of the leader-election Lease")
    p.add_argument("--kube-api-qps", type=float, default=5.0, help="client requests per second")
    p.add_argument("--kube-api-burst", type=int, default=10, help="client request burst")
    p.add_argument("--controller-queue-rate-limit", type=float, default=10.0,
                   help="work queue retry token-bucket rate (items/s)")
    p.add_argument("--controller-queue-burst", type=int, default=100, help="work queue token-bucket burst")
    p.add_argument("--cluster-domain", default="", help="suffix of host names in the hostfile")
    p.add_argument("--leader-elect", action=argparse.BooleanOptionalAction, default=True,
                   help="run leader election on a Lease (default on)")
    p.add_argument("--leader-elect-lease-duration", type=float, default=15.0,
                   help="seconds a follower waits before taking over a lease that is not renewed")
    p.add_argument("--leader-elect-renew-deadline", type=float, default=10.0,
                   help="seconds the leader keeps trying to renew before it steps down")
    p.add_argument("--leader-elect-retry-period", type=float, default=2.0,
                   help="seconds between tries to acquire or renew the lease")
    p.add_argument("--health-port", type=int, default=8080, help="port of /healthz and /readyz; 0 disables")
    p.add_argument("--log-format", choices=("text", "json"), default="text")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    p.add_argument("--cache-transform", action=argparse.BooleanOptionalAction, default=True, help=argparse.SUPPRESS)
    for flag in _KLOG_BOOL_FLAGS:
        p.add_argument(f"--{flag}", nargs="?", const="true", default=None, help=argparse.SUPPRESS)
    for flag in _KLOG_VALUE_FLAGS:
        p.add_argument(f"--{flag}", default=None, help=argparse.SUPPRESS)
    return p


def parse_operator_settings(argv: Sequence[str], prog: str = "mpi-operator") -> tuple[OperatorSettings, bool]:
    """Parse operator flags into settings; the bool says --version was asked."""
    ns = _operator_parser(prog).parse_args(normalize_go_flags(argv))
    fields = OperatorSettings.model_fields
    settings = OperatorSettings(**{k: v for k, v in vars(ns).items() if k in fields})
    return settings.with_env_overrides(), bool(ns.version)


def print_version() -> None:
    print("API Version: v2")
    print(f"Version: {__version__}")
    print(f"Python Version: {sys.version.split()[0]}")


def cmd_run(argv: Sequence[str]) -> int:
    settings, version = parse_operator_settings(argv, "mpi-operator run")
    if version:
        print_version()
        return 0
    from mpi_operator.operator import run_operator

    return run_operator(settings)


def cmd_validate(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="mpi-operator validate",
                                description="Apply defaults and validation to MPIJob files, offline.")
    p.add_argument("-f", "--filename", action="append", required=True,
                   help="YAML file (several documents allowed); '-' reads standard input")
    ns = p.parse_args(argv)
    from mpi_operator.api.documents import validate_files

    return validate_files(ns.filename, sys.stdout, sys.stderr)


def cmd_crd(argv: Sequence[str]) -> int:
    argparse.ArgumentParser(prog="mpi-operator crd", description="Print the MPIJob CRD as YAML.").parse_args(argv)
    from mpi_operator.api.crd import crd_yaml

    sys.stdout.write(crd_yaml())
    return 0


def cmd_render(argv: Sequence[str]) -> int:
    from mpi_operator.render import main as render_main

    return render_main(argv)


def cmd_sandbox(argv: Sequence[str]) -> int:
    from mpi_operator.sandbox.cli import main as sandbox_main

    return sandbox_main(argv)


def cmd_demo(argv: Sequence[str]) -> int:
    from mpi_operator.demo import main as demo_main

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
        return COMMANDS[args[0]](args[1:])
    return cmd_run(args)
