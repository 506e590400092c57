#include "services/patient-index/term_frequency_refresher.h"

#include <utility>

namespace meridian::patient {

TermFrequencyRefresher::TermFrequencyRefresher(PatientIndex* index, Loader load,
                                               absl::Duration interval, Report report)
    : index_(index),
      load_(std::move(load)),
      interval_(interval),
      report_(std::move(report)) {}

TermFrequencyRefresher::~TermFrequencyRefresher() { Stop(); }

absl::Status TermFrequencyRefresher::RefreshNow() {
  absl::StatusOr<TermFrequencies> tf = load_();
  if (!tf.ok()) return tf.status();
  index_->SetTermFrequencies(*std::move(tf));
  return absl::OkStatus();
}

void TermFrequencyRefresher::Start() {
  thread_ = std::thread([this] {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (mu_.AwaitWithTimeout(absl::Condition(&stop_), interval_)) return;
      }
      const absl::Status status = RefreshNow();
      if (report_) report_(status);
    }
  });
}

void TermFrequencyRefresher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace meridian::patient
