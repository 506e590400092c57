// Per-organisation request rate limits: a token bucket per caller.
//
// Every authorised call from outside the platform (any role but the
// platform's own services) takes a token from its organisation's bucket;
// an empty bucket refuses the call with RESOURCE_EXHAUSTED, saying when to
// come back, and gRPC's retry pushback header (grpc-retry-pushback-ms) says
// the same to clients that retry. One institution flooding the exchange
// then slows only itself. The buckets are keyed by directory organisation,
// so their number is bounded by the directory.
//
//   RateLimiter limiter(/*per_second=*/1000, /*burst=*/2000);
//   if (absl::Duration wait = limiter.Admit("city-hosp-1"); wait > absl::ZeroDuration()) ...
#ifndef MERIDIAN_LIBS_SERVER_RATE_LIMIT_H_
#define MERIDIAN_LIBS_SERVER_RATE_LIMIT_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace meridian::server {

class RateLimiter {
 public:
  // `per_second` tokens a second, at most `burst` saved up (both > 0).
  RateLimiter(double per_second, double burst);

  // Zero when `key` may make a request now (it takes a token), otherwise
  // how long until it may.
  absl::Duration Admit(absl::string_view key, absl::Time now = absl::Now());

  double per_second() const { return per_second_; }

 private:
  struct Bucket {
    double tokens;
    absl::Time last;
  };
  const double per_second_;
  const double burst_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

// The process's limiter of callers from outside the platform (Authorise
// consults it); null, the default, for none. Server::Start sets it from
// ServerOptions.
void SetCallerRateLimit(std::shared_ptr<RateLimiter> limiter);
std::shared_ptr<RateLimiter> CallerRateLimit();

}  // namespace meridian::server

#endif  // MERIDIAN_LIBS_SERVER_RATE_LIMIT_H_
