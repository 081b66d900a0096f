"""A real Kubernetes control plane on this machine, for tests and debugging (as envtest gives Go operators).

`binaries.py` finds or builds etcd, kube-apiserver, kube-controller-manager and kube-scheduler;
`cluster.py` starts them on free loopback ports with TLS, RBAC and service-account credentials, writes
kubeconfigs, and stops them. There is no kubelet: the node agent (`mpi_operator.nodeagent`) registers
nodes and runs their pods.
"""
