"""What a write must satisfy before it is stored, as kube-apiserver's registry strategies and the apiextensions
server decide it: metadata and per-type rules, pod specs, custom resources (structural schema: pruning, defaults,
validation; CEL rules), unknown fields and `fieldValidation`.

Pure functions over plain dicts, returning Kubernetes StatusCause dicts; nothing here stores or serves.
"""
