# Example program for the pi MPIJob with MPICH (examples/pi-mpich.yaml): pi.cc at /home/mpiuser/pi.
# Build context: images/; published upstream as mpioperator/mpi-pi:mpich.
ARG BUILDER_IMAGE=mpioperator/mpich-builder:v0.1.0
ARG RUNTIME_IMAGE=mpioperator/mpich:v0.1.0

FROM ${BUILDER_IMAGE} AS builder
COPY examples/pi/pi.cc /src/pi.cc
RUN mpic++ -O2 /src/pi.cc -o /src/pi

FROM ${RUNTIME_IMAGE}
COPY --from=builder --chown=1000:1000 /src/pi /home/mpiuser/pi
USER 1000:1000
