// The cap on a client-streaming bulk push (RegisterPatients, PushRecords,
// PushPrescriptions): up to `max_items` items are processed; past it nothing
// more is stored, one RESOURCE_EXHAUSTED result (at the first refused index)
// says so and the rest are only counted as failed, so the response stays
// bounded however long the stream.
//
//   server::BulkCap cap(max_items, "prescriptions");
//   while (reader->Read(&batch)) {
//     for (auto& item : batch.items()) {
//       if (!cap.Admit(response)) continue;
//       ... process item cap.index() ...
//     }
//   }
//
// `Response` has `repeated Result results` (each with index, code and error)
// and an int32 `failed`.
#ifndef MERIDIAN_LIBS_SERVER_BULK_H_
#define MERIDIAN_LIBS_SERVER_BULK_H_

#include <functional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace meridian::server {

class BulkCap {
 public:
  BulkCap(int max_items, absl::string_view what) : max_(max_items), what_(what) {}

  // Counts the next item; true when it is to be processed. For the first
  // refused item, `before_refusal` runs first (to flush items still held),
  // then the refusal is added to `response`.
  template <typename Response>
  bool Admit(Response* response, const std::function<void()>& before_refusal = nullptr) {
    index_ = seen_;
    if (index_ < max_) {
      ++seen_;
      return true;
    }
    if (index_ == max_) {
      if (before_refusal) before_refusal();  // sees seen() == max_
      auto* r = response->add_results();
      r->set_index(index_);
      r->set_code(static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
      r->set_error(absl::StrCat("at most ", max_, " ", what_,
                                " per stream: this one and every later one were refused; "
                                "send them in another stream"));
    }
    ++seen_;
    response->set_failed(response->failed() + 1);
    return false;
  }

  // The position of the item last counted, from 0.
  int index() const { return index_; }
  // Items counted so far.
  int seen() const { return seen_; }

 private:
  const int max_;
  const std::string what_;
  int seen_ = 0;
  int index_ = -1;
};

}  // namespace meridian::server

#endif  // MERIDIAN_LIBS_SERVER_BULK_H_
