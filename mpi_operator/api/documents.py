"""Reading MPIJob documents from YAML files and validating them offline (`mpi-operator validate`).

Invariant: a bad file never produces a traceback: unreadable files, YAML syntax errors and malformed
documents are all reported as one-line messages naming the file and the document, and make the exit code 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import yaml

from mpi_operator.api.constants import KIND
from mpi_operator.api.field_errors import unique_texts
from mpi_operator.api.types import MPIJob
from mpi_operator.api.validation import validate_document

STDIN_PATH = "-"
_LIST_KINDS = frozenset({"List", f"{KIND}List"})


class DocumentError(Exception):
    """A file that cannot be read as YAML; the message is meant for the user as is."""


class _KubernetesYAMLLoader(yaml.SafeLoader):
    """YAML as Kubernetes reads it: timestamps stay strings (sigs.k8s.io/yaml goes through JSON)."""


_KubernetesYAMLLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_documents(text: str) -> list[Any]:
    """The non-empty documents of a (multi-document) YAML text; raises DocumentError on a syntax error."""
    return list(iter_documents(text))


def iter_documents(text: str) -> Iterator[Any]:
    """The non-empty documents of a YAML text, one by one; raises DocumentError where the syntax breaks,
    after yielding the documents before it."""
    try:
        for doc in yaml.load_all(text, Loader=_KubernetesYAMLLoader):
            if doc is not None:
                yield doc
    except yaml.MarkedYAMLError as exc:
        where = ""
        if exc.problem_mark is not None:
            where = f" (line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1})"
        raise DocumentError(f"invalid YAML: {exc.problem or exc.context}{where}") from None
    except yaml.YAMLError as exc:
        raise DocumentError(f"invalid YAML: {exc}") from None


def read_text(path: str, stdin: TextIO | None = None) -> str:
    """The text of `path` ('-' is standard input); raises DocumentError when it cannot be read."""
    try:
        if path == STDIN_PATH:
            return (stdin or sys.stdin).read()
        with open(path, "rb") as f:
            return f.read().decode("utf-8")
    except OSError as exc:
        raise DocumentError(f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DocumentError("cannot read: not UTF-8 text") from None


@dataclass(frozen=True)
class Document:
    """One object of a file: its label in messages (`ns/name`, `name` or `#n`), its content, and why it is
    not validated (another kind), if so."""

    label: str
    content: Any
    skip_reason: str = ""


def mpijob_documents(docs: Iterable[Any]) -> Iterator[Document]:
    """The objects of a file, list kinds expanded; objects of another kind come with a skip reason."""
    for number, doc in enumerate(docs, start=1):
        kind = doc.get("kind") if isinstance(doc, dict) else None
        if kind in _LIST_KINDS and isinstance(doc.get("items"), list):
            for index, item in enumerate(doc["items"]):
                yield Document(_label(item, f"#{number}.items[{index}]"), item)
        elif isinstance(kind, str) and kind.lower() != KIND.lower():
            # A typo such as "MPIjob" is still parsed (and its kind reported); other kinds are not ours.
            yield Document(_label(doc, f"#{number}"), doc, f"kind {kind} is not {KIND}")
        else:
            yield Document(_label(doc, f"#{number}"), doc)


def validate_files(paths: Sequence[str], out: TextIO, err: TextIO, stdin: TextIO | None = None) -> int:
    """Default and validate every MPIJob in `paths`; print `valid` lines to `out`, problems to `err`.

    Exit status: 0 when every file holds at least one MPIJob and all are valid, 1 otherwise.
    """

    def valid(name: str, document: Document, _job: MPIJob) -> None:
        out.write(f"{name}: {document.label}: valid\n")

    return for_each_valid_mpijob(paths, valid, skipped=out, err=err, stdin=stdin)


def for_each_valid_mpijob(paths: Sequence[str], on_valid: Callable[[str, Document, MPIJob], None], *,
                          skipped: TextIO, err: TextIO, stdin: TextIO | None = None) -> int:
    """Read, default and validate every MPIJob in `paths` and call `on_valid(file, document, defaulted job)` for
    each valid one; other kinds are noted on `skipped`, field errors and unreadable files go to `err`.

    Exit status: 0 when every file holds at least one MPIJob and all are valid, 1 otherwise.
    """
    return max((_each_in_file(path, on_valid, skipped, err, stdin) for path in paths), default=0)


def _each_in_file(path: str, on_valid: Callable[[str, Document, MPIJob], None], skipped: TextIO, err: TextIO,
                  stdin: TextIO | None) -> int:
    name = "<stdin>" if path == STDIN_PATH else path
    status = 0
    checked = 0
    try:
        for document in mpijob_documents(iter_documents(read_text(path, stdin))):
            if document.skip_reason:
                skipped.write(f"{name}: {document.label}: skipped: {document.skip_reason}\n")
                continue
            checked += 1
            job, errors = validate_document(document.content)
            if job is not None and not errors:
                on_valid(name, document, job)
                continue
            status = 1
            for text in unique_texts(errors):
                err.write(f"{name}: {document.label}: {text}\n")
    except DocumentError as exc:
        err.write(f"{name}: {exc}\n")
        return 1
    if checked == 0:
        err.write(f"{name}: no {KIND} documents found\n")
        return 1
    return status


def _label(doc: Any, fallback: str) -> str:
    metadata = doc.get("metadata") if isinstance(doc, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        return fallback
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return f"{namespace}/{name}" if isinstance(namespace, str) and namespace else name
