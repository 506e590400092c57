// Keeps matching's term frequencies current: every `interval`, loads the
// registry's value counts (PgPatientStore::LoadTermFrequencies) and hands
// them to PatientIndex (SetTermFrequencies: its weights, these counts). Without it the counts are those of the
// start: a registry that started empty never discounts a common surname,
// and one that grows drifts.
//
//   TermFrequencyRefresher refresher(&index, [&] {
//     return store.LoadTermFrequencies();
//   }, absl::Hours(1));
//   refresher.Start();  // ... refresher.Stop() before index goes
#ifndef MERIDIAN_SERVICES_PATIENT_INDEX_TERM_FREQUENCY_REFRESHER_H_
#define MERIDIAN_SERVICES_PATIENT_INDEX_TERM_FREQUENCY_REFRESHER_H_

#include <cstdint>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/patient-index/model.h"
#include "services/patient-index/patient_index.h"

namespace meridian::patient {

class TermFrequencyRefresher {
 public:
  using Loader = std::function<absl::StatusOr<TermFrequencies>()>;
  // Called after each periodic refresh with its outcome (e.g. to log it).
  using Report = std::function<void(const absl::Status&)>;

  TermFrequencyRefresher(PatientIndex* index, Loader load, absl::Duration interval,
                         Report report = nullptr);
  ~TermFrequencyRefresher();  // Stop()
  TermFrequencyRefresher(const TermFrequencyRefresher&) = delete;
  TermFrequencyRefresher& operator=(const TermFrequencyRefresher&) = delete;

  // Loads now and hands the counts to the index; on an error the index keeps
  // the model it has.
  absl::Status RefreshNow();
  // RefreshNow every `interval` on a thread of its own, until Stop.
  void Start();
  void Stop();

 private:
  PatientIndex* const index_;
  const Loader load_;
  const absl::Duration interval_;
  const Report report_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace meridian::patient

#endif  // MERIDIAN_SERVICES_PATIENT_INDEX_TERM_FREQUENCY_REFRESHER_H_
