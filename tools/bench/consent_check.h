// meridian_bench consent: latency of the consent service's Check under load.
#ifndef MERIDIAN_TOOLS_BENCH_CONSENT_CHECK_H_
#define MERIDIAN_TOOLS_BENCH_CONSENT_CHECK_H_

#include "libs/config/config.h"

namespace meridian::bench {

int ConsentCheck(config::Reader& cfg);

}  // namespace meridian::bench

#endif  // MERIDIAN_TOOLS_BENCH_CONSENT_CHECK_H_
