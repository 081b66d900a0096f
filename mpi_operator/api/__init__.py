"""The MPIJob kubeflow.org/v2beta1 API: types, defaults, validation and the CRD. No IO here."""
