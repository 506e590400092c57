// meridian_bench index-growth: how long the patient index's in-memory
// candidate structures (KeyIndex and CandidateCache) hold up a lookup while
// they grow.
#ifndef MERIDIAN_TOOLS_BENCH_INDEX_GROWTH_H_
#define MERIDIAN_TOOLS_BENCH_INDEX_GROWTH_H_

#include "libs/config/config.h"

namespace meridian::bench {

int IndexGrowth(config::Reader& cfg);

}  // namespace meridian::bench

#endif  // MERIDIAN_TOOLS_BENCH_INDEX_GROWTH_H_
