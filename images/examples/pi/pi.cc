// Estimates pi by the midpoint rule on 4/(1+x^2) over [0,1], the intervals split across MPI ranks.
// Every rank reports where it runs, so the launcher log shows that all workers took part; rank 0 also
// names the MPI library the ranks loaded (its first line), so a log tells which MPI really ran.
#include <mpi.h>

#include <cstdio>

int main(int argc, char *argv[]) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  char host[MPI_MAX_PROCESSOR_NAME];
  int host_len = 0;
  MPI_Get_processor_name(host, &host_len);
  std::printf("Rank %d of %d running on %s\n", rank, size, host);
  if (rank == 0) {
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int version_len = 0;
    MPI_Get_library_version(version, &version_len);
    int first_line = 0;
    while (first_line < version_len && version[first_line] != '\n' && version[first_line] != ',') {
      ++first_line;
    }
    std::printf("MPI library: %.*s\n", first_line, version);
  }

  const long intervals = 100000000L;
  const double width = 1.0 / static_cast<double>(intervals);
  double local = 0.0;
  for (long i = rank; i < intervals; i += size) {
    const double x = (static_cast<double>(i) + 0.5) * width;
    local += 4.0 / (1.0 + x * x);
  }
  local *= width;

  double pi = 0.0;
  MPI_Reduce(&local, &pi, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    std::printf("pi is approximately %.12f\n", pi);
  }
  MPI_Finalize();
  return 0;
}
