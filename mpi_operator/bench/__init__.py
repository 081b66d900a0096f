"""`make bench`: the operator measured against a minimal floor client on the sandbox, with the sandbox's own
capacity, memory per cached pod, scaling and idle writes. A benchmark, not a test: it prints a table and writes
bench/results.json; it asserts nothing about the numbers."""
