// meridian_bench analytics: dashboard queries over N synthetic events.
#ifndef MERIDIAN_TOOLS_BENCH_ANALYTICS_H_
#define MERIDIAN_TOOLS_BENCH_ANALYTICS_H_

#include "libs/config/config.h"

namespace meridian::bench {

int Analytics(config::Reader& cfg);

}  // namespace meridian::bench

#endif  // MERIDIAN_TOOLS_BENCH_ANALYTICS_H_
