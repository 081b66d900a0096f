"""The node agent: a kubelet stand-in that is an ordinary API client.

It registers Node objects, heartbeats their Leases, runs the pods bound to them through a runtime
(`runtime.py`: simulated timers or real processes) and reports them through `pods/status`, so the same
agent serves the sandbox and a real control plane. It knows nothing about MPI.
"""
