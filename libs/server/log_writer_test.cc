#include "libs/server/log_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace meridian::server {
namespace {

using ::testing::HasSubstr;

// A pipe whose read end a thread drains into `text` once started.
class Pipe {
 public:
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    read_ = fds[0];
    write_ = fds[1];
  }
  ~Pipe() {
    CloseWriteEnd();
    if (reader_.joinable()) reader_.join();
    ::close(read_);
  }
  int write_fd() const { return write_; }
  // What has arrived so far, without waiting (before StartReading).
  std::string ReadAvailable() {
    ::fcntl(read_, F_SETFL, ::fcntl(read_, F_GETFL) | O_NONBLOCK);
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(read_, buf, sizeof(buf))) > 0) out.append(buf, n);
    ::fcntl(read_, F_SETFL, ::fcntl(read_, F_GETFL) & ~O_NONBLOCK);
    return out;
  }
  void StartReading() {
    reader_ = std::thread([this] {
      char buf[65536];
      ssize_t n;
      while ((n = ::read(read_, buf, sizeof(buf))) > 0) text_.append(buf, n);
    });
  }
  // Everything written, once the write end is closed.
  const std::string& ReadAll() {
    CloseWriteEnd();
    if (reader_.joinable()) reader_.join();
    return text_;
  }

 private:
  void CloseWriteEnd() {
    if (write_ >= 0) ::close(write_);
    write_ = -1;
  }
  int read_ = -1, write_ = -1;
  std::thread reader_;
  std::string text_;
};

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(LogWriterTest, FlushWritesEveryLineInOrder) {
  Pipe pipe;  // 1,000 short lines fit in it unread
  LogWriter writer({.fd = pipe.write_fd(), .flush_every = absl::Hours(1)});
  for (int i = 0; i < 1000; ++i) writer.Write(absl::StrCat("line ", i));
  writer.Flush();  // not the timer: it is an hour away
  EXPECT_EQ(writer.dropped(), 0);
  std::vector<std::string> lines = Lines(pipe.ReadAvailable());
  ASSERT_EQ(lines.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(lines[i], absl::StrCat("line ", i));
}

TEST(LogWriterTest, TheDestructorWritesWhatIsBuffered) {
  Pipe pipe;
  pipe.StartReading();
  {
    LogWriter writer({.fd = pipe.write_fd(), .flush_every = absl::Hours(1)});
    writer.Write("first");
    writer.Write("last");
  }
  EXPECT_EQ(pipe.ReadAll(), "first\nlast\n");
}

TEST(LogWriterTest, ConcurrentLinesAreNeverTorn) {
  Pipe pipe;
  pipe.StartReading();
  constexpr int kThreads = 8, kEach = 2000;
  {
    LogWriter writer({.fd = pipe.write_fd(), .wake_bytes = 4096});
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&writer, t] {
        for (int i = 0; i < kEach; ++i) {
          writer.Write(absl::StrCat("{\"thread\":", t, ",\"i\":", i, ",\"pad\":\"",
                                    std::string(100, 'x'), "\"}"));
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  std::vector<std::string> lines = Lines(pipe.ReadAll());
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kEach));
  // Each line whole, and each thread's lines in its order.
  std::vector<int> next(kThreads, 0);
  for (const std::string& line : lines) {
    int t = -1, i = -1;
    ASSERT_EQ(std::sscanf(line.c_str(), "{\"thread\":%d,\"i\":%d,", &t, &i), 2) << line;
    ASSERT_THAT(line, HasSubstr(std::string(100, 'x') + "\"}"));
    ASSERT_GE(t, 0);
    ASSERT_LT(t, kThreads);
    EXPECT_EQ(i, next[t]++);
  }
}

// A reader that stops reading (a full pipe, a stalled disk) blocks only the
// writer's thread: callers go on, the lines past the bound are dropped and
// counted, and the log says how many once it can write again.
TEST(LogWriterTest, AStalledDescriptorDropsLinesInsteadOfBlockingCallers) {
  Pipe pipe;  // not read yet: its 64 KiB fill and the writer's thread blocks
  constexpr int kLines = 20000;
  const std::string pad(200, 'y');
  int64_t dropped = 0;
  {
    LogWriter writer({.fd = pipe.write_fd(),
                      .max_buffered_bytes = 256 << 10,
                      .wake_bytes = 16 << 10,
                      .flush_every = absl::Milliseconds(1)});
    for (int i = 0; i < kLines; ++i) writer.Write(absl::StrCat(i, " ", pad));
    // Every call returned although nothing reads: 4 MiB of lines do not fit
    // in 64 KiB of pipe and 256 KiB of buffer.
    dropped = writer.dropped();
    EXPECT_GT(dropped, 0);
    EXPECT_LT(dropped, kLines);
    // A flush with a deadline gives up (an exit must not hang on a stuck
    // reader); one without waits for the reader.
    EXPECT_FALSE(writer.Flush(absl::Milliseconds(10)));
    pipe.StartReading();
    writer.Flush();
    writer.Write("after");
  }
  std::vector<std::string> lines = Lines(pipe.ReadAll());
  int64_t kept = 0, reported = 0, previous = -1;
  bool after = false;
  for (const std::string& line : lines) {
    if (line == "after") {
      after = true;
      continue;
    }
    if (absl::StrContains(line, "lines dropped")) {
      ASSERT_THAT(line, HasSubstr("\"level\":\"warn\""));
      const size_t from = line.find("log: ") + 5;
      int64_t n = 0;
      ASSERT_TRUE(absl::SimpleAtoi(line.substr(from, line.find(' ', from) - from), &n)) << line;
      reported += n;
      continue;
    }
    // Kept lines whole, in order, each once.
    std::vector<std::string> parts = absl::StrSplit(line, ' ');
    ASSERT_EQ(parts.size(), 2u) << line.substr(0, 40);
    ASSERT_EQ(parts[1], pad);
    int64_t i = 0;
    ASSERT_TRUE(absl::SimpleAtoi(parts[0], &i));
    EXPECT_GT(i, previous);
    previous = i;
    ++kept;
  }
  EXPECT_TRUE(after);
  EXPECT_EQ(kept + dropped, kLines);
  EXPECT_EQ(reported, dropped);
}

TEST(LogWriterTest, ADescriptorThatFailsLosesLinesButNeverHangs) {
  int fd = ::open("/dev/null", O_RDONLY);  // writes fail with EBADF
  ASSERT_GE(fd, 0);
  {
    LogWriter writer({.fd = fd});
    writer.Write("lost");
    writer.Flush();  // returns: the line counts as handled
    EXPECT_EQ(writer.dropped(), 0);
  }
  ::close(fd);
}

}  // namespace
}  // namespace meridian::server
