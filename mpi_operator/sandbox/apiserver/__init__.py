"""The API server: storage (one write path, one global resourceVersion), change records and watches, the served
resources and discovery, the HTTP face, request accounting and fault injection.

Depends on `admission/` (what a write must satisfy) and `wire/` (how requests and answers are encoded), never on
`cluster/`, whose parts are its clients.
"""
