"""A small Dockerfile reader for property tests: instructions with continuation lines joined, grouped by stage.

It understands what our Dockerfiles use (comments, `\\` continuations, FROM ... AS, JSON or shell form);
it is not a full BuildKit parser, and hadolint remains the syntax authority.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Instruction:
    keyword: str  # upper case, e.g. "RUN"
    args: str  # the rest of the instruction, continuation lines joined with single spaces

    def exec_form(self) -> list[str] | None:
        """The JSON (exec) form of ENTRYPOINT/CMD as a list, or None for the shell form."""
        try:
            value = json.loads(self.args)
        except json.JSONDecodeError:
            return None
        return [str(v) for v in value] if isinstance(value, list) else None


@dataclass
class Stage:
    base: str  # the FROM image reference, as written
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last_user(self) -> str | None:
        users = self.all("USER")
        return users[-1].args.split(":")[0] if users else None


def read_instructions(path: Path) -> list[Instruction]:
    out: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comments inside a continued RUN are dropped by Docker too
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        text = (pending + line).strip()
        pending = ""
        keyword, _, rest = text.partition(" ")
        out.append(Instruction(keyword.upper(), rest.strip()))
    return out


def read_stages(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults (before the first FROM) and the build stages in order."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in read_instructions(path):
        if ins.keyword == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", ins.args, re.IGNORECASE)
            assert m, f"{path}: unreadable FROM {ins.args!r}"
            stages.append(Stage(base=m.group(1), name=m.group(2)))
        elif not stages and ins.keyword == "ARG":
            name, _, default = ins.args.partition("=")
            args[name] = default
        elif stages:
            stages[-1].instructions.append(ins)
    return args, stages


def resolve(reference: str, args: dict[str, str]) -> str:
    """An image reference with ${ARG} / $ARG replaced by the global ARG defaults."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), reference)
