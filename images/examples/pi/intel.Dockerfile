# Example program for the pi MPIJob with Intel MPI (examples/pi-intel.yaml): pi.cc at /home/mpiuser/pi.
# Build context: images/; published upstream as mpioperator/mpi-pi:intel.
ARG BUILDER_IMAGE=mpioperator/intel-builder:v0.1.0
ARG RUNTIME_IMAGE=mpioperator/intel:v0.1.0

FROM ${BUILDER_IMAGE} AS builder
COPY examples/pi/pi.cc /src/pi.cc
# setvars.sh puts the oneAPI compilers and Intel MPI wrappers on PATH.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN source /opt/intel/oneapi/setvars.sh && mpicxx -O2 /src/pi.cc -o /src/pi

FROM ${RUNTIME_IMAGE}
COPY --from=builder --chown=1000:1000 /src/pi /home/mpiuser/pi
USER 1000:1000
