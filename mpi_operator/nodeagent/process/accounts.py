"""The accounts an image knows: its /etc/passwd, /etc/group and /etc/shadow are the node's with the image's
own users put in (as `useradd --user-group` would), and a container's user is looked up in them.

Invariant: pure text in, text out; an image user replaces any node account with the same name or id, so
inside the container uid 1000 is `mpiuser` whatever the node calls it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageUser:
    name: str
    uid: int
    gid: int
    home: str
    shell: str = "/bin/bash"


@dataclass(frozen=True)
class Account:
    """What a container process runs with: the user's home, primary group and supplementary groups."""

    uid: int
    gid: int
    home: str
    groups: tuple[int, ...]


def _fields(text: str) -> list[list[str]]:
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def _join(rows: list[list[str]]) -> str:
    return "".join(":".join(row) + "\n" for row in rows)


def with_users_passwd(text: str, users: list[ImageUser]) -> str:
    rows = [r for r in _fields(text) if len(r) >= 7 and not any(r[0] == u.name or r[2] == str(u.uid) for u in users)]
    rows += [[u.name, "x", str(u.uid), str(u.gid), "", u.home, u.shell] for u in users]
    return _join(rows)


def with_users_group(text: str, users: list[ImageUser]) -> str:
    rows = [r for r in _fields(text) if len(r) >= 4 and not any(r[0] == u.name or r[2] == str(u.gid) for u in users)]
    rows += [[u.name, "x", str(u.gid), ""] for u in users]
    return _join(rows)


def with_users_shadow(text: str, users: list[ImageUser], days_since_epoch: int) -> str:
    """`!` as useradd leaves it: no password login, key login only."""
    rows = [r for r in _fields(text) if r and r[0] not in {u.name for u in users}]
    rows += [[u.name, "!", str(days_since_epoch), "0", "99999", "7", "", "", ""] for u in users]
    return _join(rows)


def account(passwd: str, group: str, uid: int, gid: int | None, extra_groups: tuple[int, ...]) -> Account:
    """As a container runtime resolves runAsUser/runAsGroup: the primary group is the user's own unless
    given (0 for a uid the image does not know), supplementary groups are those /etc/group lists the user
    in, plus the pod's; HOME is the passwd home, else '/'."""
    entry = next((r for r in _fields(passwd) if len(r) >= 7 and r[2] == str(uid)), None)
    primary = gid if gid is not None else (int(entry[3]) if entry else 0)
    home = entry[5] if entry and entry[5] else "/"
    member_of: list[int] = []
    if entry is not None:
        for row in _fields(group):
            if len(row) >= 4 and entry[0] in row[3].split(",") and row[2].isdigit():
                member_of.append(int(row[2]))
    groups = tuple(dict.fromkeys([primary, *member_of, *extra_groups]))
    return Account(uid=uid, gid=primary, home=home, groups=groups)
