"""What every command line of the project shares: a parser that reports a bad flag in one line, value types
that say the allowed range, and the last-resort handler that turns an unexpected failure into one line.

Invariant: a wrong flag never prints a traceback or the whole usage block; it prints `<prog>: <what is wrong>`,
a pointer to `--help`, and exits 2. The sandbox's command line (`sandbox_command.py`) uses this too: it is
wiring, outside the sandbox, which imports nothing of the operator.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

USAGE_EXIT = 2
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
NAMESPACE_RULE = "at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the flag and the fix, not the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_EXIT, f"{self.prog}: {message}\nRun '{self.prog} --help' to see the flags.\n")


def port(text: str) -> int:
    """A TCP port, 0 to 65535 (0: pick a free one or disable, as the flag says)."""
    return integer(0, 65535)(text)


def integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            allowed = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed: must be an integer {allowed}")
        return value

    return parse


def seconds(minimum: float = 0.0, exclusive: bool = False, infinite: bool = False) -> Callable[[str], float]:
    """A number of seconds, at least (or, `exclusive`, more than) `minimum`; `inf` only when `infinite`."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if math.isnan(value) or (math.isinf(value) and not infinite) or value < minimum or (
                exclusive and value == minimum):
            bound = f"greater than {minimum:g}" if exclusive else f"at least {minimum:g}"
            also = " (or inf)" if infinite else ""
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed: must be a number of seconds {bound}{also}")
        return value

    return parse


def is_namespace_name(text: str) -> bool:
    """A DNS-1123 label, as namespace names must be."""
    return len(text) <= 63 and _DNS_LABEL.fullmatch(text) is not None


def namespace_name(text: str) -> str:
    if not is_namespace_name(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a namespace name: {NAMESPACE_RULE}")
    return text


def normalize_log_level(text: str) -> str | None:
    """The logging level name for `text` (any case; WARN is WARNING), or None when it is not one."""
    level = text.strip().upper()
    level = "WARNING" if level == "WARN" else level
    return level if level in LOG_LEVELS else None


def log_level(text: str) -> str:
    level = normalize_log_level(text)
    if level is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a log level: choose from {', '.join(LOG_LEVELS)}")
    return level


def wants_traceback(argv: Sequence[str]) -> bool:
    """True when the arguments ask for DEBUG logs (`--log-level DEBUG`, `-log-level=debug`, ...)."""
    args = list(argv)
    for i, arg in enumerate(args):
        name, eq, value = arg.lstrip("-").partition("=")
        if name == "log-level" and arg.startswith("-"):
            value = value if eq else (args[i + 1] if i + 1 < len(args) else "")
            if value.strip().upper() == "DEBUG":
                return True
    return False


def run_guarded(prog: str, command: Callable[[Sequence[str]], int], argv: Sequence[str]) -> int:
    """Run a command; an exception nobody expected becomes one line (the traceback only with DEBUG logs)."""
    try:
        return command(argv)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if wants_traceback(argv):
            traceback.print_exc()
        print(f"{prog}: unexpected error: {type(exc).__name__}: {exc}\n"
              f"Rerun with --log-level DEBUG for the traceback, and report it if the message does not help.",
              file=sys.stderr)
        return 1
