#include "libs/server/log_writer.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace meridian::server {

LogWriter::LogWriter(Options options)
    : options_(options), thread_([this] { Run(); }) {}

LogWriter::~LogWriter() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void LogWriter::Write(absl::string_view line) {
  absl::MutexLock lock(&mu_);
  if (pending_.size() + line.size() + 1 > options_.max_buffered_bytes) {
    ++dropped_;
    ++dropped_unreported_;
    return;
  }
  pending_.append(line.data(), line.size());
  pending_.push_back('\n');
  ++appended_;
}

void LogWriter::Flush() { Flush(absl::InfiniteDuration()); }

bool LogWriter::Flush(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const uint64_t target = appended_;
  flush_wanted_ = true;
  auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return written_ >= target;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

int64_t LogWriter::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

void LogWriter::Run() {
  std::string batch;
  bool stop = false;
  while (!stop) {
    uint64_t upto = 0;
    int64_t dropped = 0;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || flush_wanted_ || pending_.size() >= options_.wake_bytes;
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready), options_.flush_every);
      batch.clear();
      batch.swap(pending_);  // the callers reuse the last batch's memory
      upto = appended_;
      dropped = dropped_unreported_;
      dropped_unreported_ = 0;
      flush_wanted_ = false;
      stop = stop_;
    }
    // The dropped lines came after the buffered ones.
    if (!batch.empty()) WriteAll(batch);
    if (dropped > 0) {
      WriteAll(absl::StrCat("{\"level\":\"warn\",\"message\":\"log: ", dropped,
                            " lines dropped\"}\n"));
    }
    absl::MutexLock lock(&mu_);
    written_ = upto;
  }
}

bool LogWriter::WriteAll(absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(options_.fd, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{options_.fd, POLLOUT, 0};
      ::poll(&p, 1, 100);
    } else {
      return false;  // the descriptor fails: what is left is lost
    }
  }
  return true;
}

LogWriter& StderrLogWriter() {
  // Never destroyed (a thread may still log while statics go); written out
  // at exit, unless stderr is stuck.
  static LogWriter* const writer = [] {
    auto* w = new LogWriter({.fd = STDERR_FILENO});
    std::atexit([] { StderrLogWriter().Flush(absl::Seconds(2)); });
    return w;
  }();
  return *writer;
}

}  // namespace meridian::server
