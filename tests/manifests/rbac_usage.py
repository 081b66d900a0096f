"""The operator's expected RBAC, read from the table in manifests/rbac-usage.md (the one documented place).

Each row is (API group, resource, verbs); `core` stands for the "" group. Returns the set of
(group, resource, verb) triples, the unit that request accounting can compare with.
"""

from __future__ import annotations

from tests.conftest import REPO

RBAC_USAGE = REPO / "manifests" / "rbac-usage.md"
START = "<!-- operator-rbac-table"
END = "<!-- end operator-rbac-table -->"

Grant = tuple[str, str, str]


def expected_operator_grants() -> set[Grant]:
    text = RBAC_USAGE.read_text()
    table = text.split(START, 1)[1].split("\n", 1)[1].split(END, 1)[0]
    grants: set[Grant] = set()
    for line in table.strip().splitlines()[2:]:  # skip the header and the |---| line
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        group, resource, verbs = cells[0], cells[1], cells[2]
        for verb in verbs.split(","):
            grants.add(("" if group == "core" else group, resource, verb.strip()))
    return grants


def granted(rules: list[dict[str, list[str]]]) -> set[Grant]:
    """Expand ClusterRole rules into (group, resource, verb) triples."""
    return {(g, r, v) for rule in rules for g in rule.get("apiGroups", []) for r in rule.get("resources", [])
            for v in rule.get("verbs", [])}
