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
//       cap.Answer(response, logic->Issue(item),
//                  [](auto* result, auto value) { *result->mutable_result() = value; });
//     }
//   }
//
// `Response` has `repeated Result results` (each with index, code and error)
// and an int32 `failed`.
#ifndef MERIDIAN_LIBS_SERVER_BULK_H_
#define MERIDIAN_LIBS_SERVER_BULK_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
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

  // Adds the result of the item last admitted to `response`: its index and
  // either `set_value(result, value)` (counted as succeeded) or the error's
  // code and message (counted as failed).
  template <typename Response, typename T, typename SetValue>
  void Answer(Response* response, absl::StatusOr<T> outcome, const SetValue& set_value) {
    auto* result = response->add_results();
    result->set_index(index_);
    if (outcome.ok()) {
      set_value(result, *std::move(outcome));
      response->set_succeeded(response->succeeded() + 1);
    } else {
      result->set_code(static_cast<int>(outcome.status().code()));
      result->set_error(std::string(outcome.status().message()));
      response->set_failed(response->failed() + 1);
    }
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
