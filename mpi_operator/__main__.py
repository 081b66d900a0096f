"""`python -m mpi_operator` is the same as the `mpi-operator` console script."""

import sys

from mpi_operator.cli import main

sys.exit(main())
