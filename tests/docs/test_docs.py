"""The user documentation in docs/ stays true to the code: links resolve, every flag is documented.

Relative links (files and `#anchors`, with GitHub's heading slugs) must point at something that exists; every
flag of the operator, `render` and `sandbox` command lines must appear in the page that documents them, and
every flag in the operations flag table must exist; the metrics table lists exactly the registered metrics.
`mkdocs build --strict` must pass (mkdocs.yml).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from mpi_operator.api.constants import JobConditionType
from mpi_operator.cli import _operator_parser
from mpi_operator.controller import reasons as reason_texts
from mpi_operator.controller import status
from mpi_operator.controller.metrics import ControllerMetrics
from mpi_operator.kube.metrics import RestClientMetrics, WorkqueueMetrics
from mpi_operator.render import parser as render_parser
from mpi_operator.sandbox_command import parser as sandbox_parser
from tests.conftest import REPO

DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
REQUIRED_PAGES = ("index", "installation", "getting-started", "mpijob-reference", "mpijob-reference.ko", "images",
                  "operations", "architecture", "troubleshooting", "sandbox", "status")

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_FLAG = re.compile(r"`(--[A-Za-z][A-Za-z0-9-]*)")
FLAG_TABLE_START = "<!-- flags-table -->"
FLAG_TABLE_END = "<!-- end flags-table -->"


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (links and headings in code are not Markdown)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (not `-`/`_`), spaces to `-`."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in prose_lines(path.read_text()):
        m = _HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def relative_links(path: Path) -> list[str]:
    links = []
    for line in prose_lines(path.read_text()):
        line = re.sub(r"`[^`]*`", "", line)  # inline code is not a link
        links += [target for target in _LINK.findall(line) if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]
    return links


def long_flags(parser: argparse.ArgumentParser) -> list[str]:
    """The documented name of every visible option: its first `--` spelling."""
    flags = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
            continue
        names = [s for s in action.option_strings if s.startswith("--")]
        if names:
            flags.append(names[0])
    return flags


def test_every_page_exists() -> None:
    assert {p.stem for p in PAGES} >= set(REQUIRED_PAGES)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        file_part, _, anchor = target.partition("#")
        resolved = (page.parent / file_part).resolve() if file_part else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_slug_matches_github() -> None:
    assert slug("Upgrade notes: every difference from upstream") == "upgrade-notes-every-difference-from-upstream"
    assert slug("`spec.runPolicy`") == "specrunpolicy"
    assert slug("Scaling and QPS tuning") == "scaling-and-qps-tuning"


@pytest.mark.parametrize("page, parser", [
    ("operations.md", _operator_parser("mpi-operator")),
    ("getting-started.md", render_parser()),
    ("sandbox.md", sandbox_parser()),
], ids=["operator", "render", "sandbox"])
def test_every_flag_is_documented(page: str, parser: argparse.ArgumentParser) -> None:
    text = (DOCS / page).read_text()
    missing = [flag for flag in long_flags(parser) if f"`{flag}" not in text]
    assert not missing, f"{page} does not document {missing}"


def test_flag_table_names_only_real_flags() -> None:
    text = (DOCS / "operations.md").read_text()
    table = text[text.index(FLAG_TABLE_START):text.index(FLAG_TABLE_END)]
    real = {s for a in _operator_parser("mpi-operator")._actions for s in a.option_strings}
    documented = set(_FLAG.findall(table))
    assert documented, "no flags found in the operations flag table"
    assert documented <= real, f"documented but not accepted: {sorted(documented - real)}"


def test_mkdocs_builds_strict(tmp_path: Path) -> None:
    """mkdocs.yml turns docs/ into a site with no warning (broken links, anchors, pages left out of nav)."""
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                             str(tmp_path / "site")], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "index.html").is_file()


def test_metrics_table_matches_the_registered_metrics() -> None:
    """Every metric the operator registers is in the operations metrics table, with its type, and nothing else."""
    registry = CollectorRegistry()
    ControllerMetrics(registry)
    WorkqueueMetrics(registry)
    RestClientMetrics(registry)
    registered = {}
    for family in registry.collect():
        exported = f"{family.name}_total" if family.type == "counter" else family.name
        registered[exported] = family.type
    text = (DOCS / "operations.md").read_text()
    table = text[text.index("<!-- metrics-table -->"):text.index("<!-- end metrics-table -->")]
    documented = dict(re.findall(r"^\| `([a-z_]+)` \| (counter|gauge|histogram) \|", table, re.MULTILINE))
    assert documented == registered


def test_every_event_reason_and_condition_type_is_in_troubleshooting() -> None:
    """The reasons the controller emits and the condition types it writes are explained to users."""
    modules = (reason_texts, status)
    reasons = {value for module in modules for name, value in vars(module).items()
               if isinstance(value, str) and (name.startswith("REASON_") or name.endswith("_WARNING_REASON"))}
    assert len(reasons) >= 10, reasons
    types = {t.value for t in JobConditionType if t is not JobConditionType.RESTARTING}
    types |= {value for name, value in vars(reason_texts).items() if name.startswith("CONDITION_")}
    text = (DOCS / "troubleshooting.md").read_text()
    missing = sorted(word for word in reasons | types if f"`{word}" not in text)
    assert not missing, f"troubleshooting.md does not mention {missing}"
