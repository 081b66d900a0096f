"""One MPIJob sync, as steps over the kinds the MPIJob owns (the IO side of the controller).

`reconciler.py` holds the order; `children.py` (Service, ConfigMap, Secret, PodGroup), `workers.py` and
`launcher.py` each bring one kind in line; `status.py` writes the status and emits its transitions. Every
write goes through `owned.OwnedKind`, which updates the cache; every step failure names its step (`outcome.py`).
"""
