# Example program for the pi MPIJob on a PyPI MPI image (images/pypi): pi.cc at /home/mpiuser/pi, built with
# g++ against the same wheel (impi-devel's compiler wrappers keep an install-time placeholder for their prefix,
# so g++ is called directly for all three). Build context: images/.
ARG RUNTIME_IMAGE=mpioperator/pypi-mpi:mpich-5.0.2

FROM python:3.11.14-slim-trixie AS builder
ARG MPI_PACKAGE=mpich==5.0.2
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ \
    && rm -rf /var/lib/apt/lists/*
# MPI_PACKAGE may pin two packages (impi-rt and its headers): one requirement per line.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN echo "${MPI_PACKAGE}" | tr ' ' '\n' > /tmp/mpi-requirements.txt \
    && pip install --no-cache-dir --no-deps --prefix /opt/mpi --requirement /tmp/mpi-requirements.txt
COPY examples/pi/pi.cc /src/pi.cc
RUN g++ -O2 -I/opt/mpi/include /src/pi.cc -o /src/pi -L/opt/mpi/lib -lmpi -Wl,-rpath,/opt/mpi/lib

FROM ${RUNTIME_IMAGE}
COPY --from=builder --chown=1000:1000 /src/pi /home/mpiuser/pi
USER 1000:1000
