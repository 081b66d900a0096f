"""The MPIJob controller: pure builders of the desired objects and the reconciler."""
