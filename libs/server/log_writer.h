// Writes log lines to a file descriptor from a background thread, so that a
// request never waits for a write(2): a call appends its line to a buffer
// under a short lock and returns. The thread writes what gathered every
// `flush_every`, or sooner once `wake_bytes` wait. The buffer is bounded:
// lines that find it full are dropped and counted, and the next write says
// how many ("log: N lines dropped"), so a stalled disk or a full pipe slows
// no caller. Lines written through one writer are never torn or interleaved
// (the process's stderr has one, StderrLogWriter, which service::LogInfo and
// LogError use too).
//
//   LogWriter writer({.fd = STDERR_FILENO});
//   writer.Write(R"({"level":"info",...})");  // the newline is added
//   writer.Flush();  // returns once everything written before is out
//
// What is buffered when the process is killed is lost: the last
// `flush_every` of lines while the descriptor keeps up, up to
// `max_buffered_bytes` when it does not. The destructor and Flush write it
// out.
#ifndef MERIDIAN_LIBS_SERVER_LOG_WRITER_H_
#define MERIDIAN_LIBS_SERVER_LOG_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace meridian::server {

class LogWriter {
 public:
  struct Options {
    int fd = 2;                              // not closed by the writer
    size_t max_buffered_bytes = 8 << 20;     // beyond: lines dropped
    size_t wake_bytes = 64 << 10;            // write early from this much
    absl::Duration flush_every = absl::Milliseconds(50);
  };

  explicit LogWriter(Options options);
  // Writes what is buffered, then stops the thread.
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Appends `line` and a newline, or drops it when the buffer is full.
  void Write(absl::string_view line);
  // Returns once every line appended before the call has been written (or
  // found the descriptor failing).
  void Flush();
  // The same, waiting at most `timeout` (a descriptor nobody reads must not
  // hold up an exit); false if it ran out.
  bool Flush(absl::Duration timeout);
  // Lines dropped so far.
  int64_t dropped() const;

 private:
  void Run();
  // Writes `data` whole, retrying short writes; false if the descriptor
  // fails.
  bool WriteAll(absl::string_view data);

  const Options options_;
  mutable absl::Mutex mu_;
  std::string pending_ ABSL_GUARDED_BY(mu_);
  int64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t dropped_unreported_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t appended_ ABSL_GUARDED_BY(mu_) = 0;  // lines taken in
  uint64_t written_ ABSL_GUARDED_BY(mu_) = 0;   // lines written out
  bool flush_wanted_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// The process's writer of stderr (the access log's default sink, and
// service::LogInfo / LogError), flushed at exit for up to 2 s.
LogWriter& StderrLogWriter();

}  // namespace meridian::server

#endif  // MERIDIAN_LIBS_SERVER_LOG_WRITER_H_
