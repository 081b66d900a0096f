"""An in-memory Kubernetes API server and simulated cluster. Imports nothing of the operator but its CRD."""
