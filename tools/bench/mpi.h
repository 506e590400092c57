// `meridian_bench mpi --febrl FILE [--febrl2 FILE2]`: the matching engine on
// FEBRL data (one file: deduplicate; two: link). Prints one JSON object.
#ifndef MERIDIAN_TOOLS_BENCH_MPI_H_
#define MERIDIAN_TOOLS_BENCH_MPI_H_

#include "libs/config/config.h"

namespace meridian::bench {

int Mpi(config::Reader& cfg);

}  // namespace meridian::bench

#endif  // MERIDIAN_TOOLS_BENCH_MPI_H_
