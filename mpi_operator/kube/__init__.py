"""Generic controller runtime (client, informers, workqueue, leader election); knows nothing about MPI."""
