"""The informer's cache: objects keyed `namespace/name` (or `name`), with secondary indexes.

Only the informer writes (`Informer.store` is a `StoreReader`; writes after a client's own request go through
`Informer.assume`); everyone else reads. Stored objects are shared, never copied on read: callers must not
mutate them (copy first). An optional transform runs before storing to drop fields nobody reads.
Built-in indexes: `namespace`, and `controller` (the uid of the owner reference with controller=true).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from typing import Protocol

from mpi_operator.kube.meta import JSON, controller_uid, name_key, object_key

Obj = JSON
Transform = Callable[[Obj], Obj]
IndexFunc = Callable[[Obj], Iterable[str]]

NAMESPACE_INDEX = "namespace"
CONTROLLER_INDEX = "controller"





def _namespace_values(obj: Obj) -> Iterable[str]:
    return [str((obj.get("metadata") or {}).get("namespace") or "")]


def _controller_values(obj: Obj) -> Iterable[str]:
    uid = controller_uid(obj)
    return [uid] if uid else []


def strip_managed_fields(obj: Obj) -> Obj:
    """A transform that drops metadata.managedFields (large, never read by a controller)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        meta.pop("managedFields")
    return obj


class StoreReader(Protocol):
    """What everyone but the informer may do with its store: read."""

    def get(self, key: str) -> Obj | None: ...
    def get_by_name(self, namespace: str | None, name: str) -> Obj | None: ...
    def keys(self) -> builtins.list[str]: ...
    def list(self) -> builtins.list[Obj]: ...
    def snapshot(self) -> dict[str, Obj]: ...
    def by_index(self, index: str, value: str) -> builtins.list[Obj]: ...
    def by_namespace(self, namespace: str) -> builtins.list[Obj]: ...
    def by_controller(self, uid: str) -> builtins.list[Obj]: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: object) -> bool: ...


class Store:
    """Key → object map plus index name → value → set of keys, kept consistent on every write."""

    def __init__(self, transform: Transform | None = None, indexers: dict[str, IndexFunc] | None = None) -> None:
        self.transform = transform
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: _namespace_values,
                                                CONTROLLER_INDEX: _controller_values}
        self._indexers.update(indexers or {})
        self._indexes: dict[str, dict[str, set[str]]] = {name: {} for name in self._indexers}

    # --- reads ------------------------------------------------------------------------------------------

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def get_by_name(self, namespace: str | None, name: str) -> Obj | None:
        return self._items.get(name_key(namespace, name))

    def keys(self) -> builtins.list[str]:
        return list(self._items)

    def list(self) -> builtins.list[Obj]:
        return list(self._items.values())

    def snapshot(self) -> dict[str, Obj]:
        """A shallow copy of key → object."""
        return dict(self._items)

    def by_index(self, index: str, value: str) -> builtins.list[Obj]:
        return [self._items[k] for k in self._indexes[index].get(value, ())]

    def by_namespace(self, namespace: str) -> builtins.list[Obj]:
        return self.by_index(NAMESPACE_INDEX, namespace)

    def by_controller(self, uid: str) -> builtins.list[Obj]:
        """Objects whose controller owner reference has this uid."""
        return self.by_index(CONTROLLER_INDEX, uid)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    # --- writes (the informer's) ------------------------------------------------------------------------

    def prepare(self, obj: Obj) -> Obj:
        """The object as it will be stored (transformed)."""
        return self.transform(obj) if self.transform is not None else obj

    def put(self, obj: Obj) -> Obj | None:
        """Store an already prepared object; return the previous one."""
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        self._index(key, obj)
        return old

    def remove(self, key: str) -> Obj | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _index(self, key: str, obj: Obj) -> None:
        for name, func in self._indexers.items():
            index = self._indexes[name]
            for value in func(obj):
                index.setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, func in self._indexers.items():
            index = self._indexes[name]
            for value in func(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
