// meridian_bench ingest: the records service's streaming ingest against a
// PostgreSQL COPY of the same rows (see ingest.cc).
#ifndef MERIDIAN_TOOLS_BENCH_INGEST_H_
#define MERIDIAN_TOOLS_BENCH_INGEST_H_

#include "libs/config/config.h"

namespace meridian::bench {

int Ingest(config::Reader& cfg);

}  // namespace meridian::bench

#endif  // MERIDIAN_TOOLS_BENCH_INGEST_H_
