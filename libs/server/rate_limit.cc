#include "libs/server/rate_limit.h"

#include <algorithm>

namespace meridian::server {

RateLimiter::RateLimiter(double per_second, double burst)
    : per_second_(per_second), burst_(std::max(1.0, burst)) {}

absl::Duration RateLimiter::Admit(absl::string_view key, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = buckets_.try_emplace(key, Bucket{burst_, now});
  Bucket& b = it->second;
  if (!inserted && now > b.last) {
    b.tokens = std::min(burst_, b.tokens + absl::ToDoubleSeconds(now - b.last) * per_second_);
    b.last = now;
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return absl::ZeroDuration();
  }
  return absl::Seconds((1 - b.tokens) / per_second_);
}

namespace {

absl::Mutex limit_mu(absl::kConstInit);
std::shared_ptr<RateLimiter>& Limit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(limit_mu) {
  static auto* limit = new std::shared_ptr<RateLimiter>();
  return *limit;
}

}  // namespace

void SetCallerRateLimit(std::shared_ptr<RateLimiter> limiter) {
  absl::MutexLock lock(&limit_mu);
  Limit() = std::move(limiter);
}

std::shared_ptr<RateLimiter> CallerRateLimit() {
  absl::MutexLock lock(&limit_mu);
  return Limit();
}

}  // namespace meridian::server
