// meridian_bench deid: the privacy guard against a passthrough of the same
// events.
#ifndef MERIDIAN_TOOLS_BENCH_DEID_H_
#define MERIDIAN_TOOLS_BENCH_DEID_H_

#include "libs/config/config.h"

namespace meridian::bench {

int Deid(config::Reader& cfg);

}  // namespace meridian::bench

#endif  // MERIDIAN_TOOLS_BENCH_DEID_H_
