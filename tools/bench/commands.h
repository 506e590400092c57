// The commands of meridian_bench besides `outbox` (main.cc), one function
// each: it reads its flags from `cfg`, prints one JSON object, and returns
// the process's exit code. Each is described in its .cc file.
#ifndef MERIDIAN_TOOLS_BENCH_COMMANDS_H_
#define MERIDIAN_TOOLS_BENCH_COMMANDS_H_

#include "libs/config/config.h"

namespace meridian::bench {

// analytics: dashboard queries over N synthetic events.
int Analytics(config::Reader& cfg);
// consent: latency of the consent service's Check under load.
int ConsentCheck(config::Reader& cfg);
// deid: the privacy guard against a passthrough of the same events.
int Deid(config::Reader& cfg);
// index-growth: how long the patient index's in-memory candidate structures
// (KeyIndex, CandidateCache) hold up a lookup while they grow.
int IndexGrowth(config::Reader& cfg);
// ingest: the records service's streaming ingest against a PostgreSQL COPY
// of the same rows.
int Ingest(config::Reader& cfg);
// mpi --febrl FILE [--febrl2 FILE2] | --csv FILE: the matching engine on
// FEBRL data (one file: deduplicate; two: link) or synthetic registrations.
int Mpi(config::Reader& cfg);

}  // namespace meridian::bench

#endif  // MERIDIAN_TOOLS_BENCH_COMMANDS_H_
