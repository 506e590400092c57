#include "libs/kafka/testing.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <random>

#include "absl/strings/str_cat.h"
#include "libs/kafka/kafka.h"

namespace meridian::kafka::testing {
namespace {

std::string RequiredEnv(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    std::cerr << name
              << " is not set: run integration tests through "
                 "`tools/meridian test`."
              << std::endl;
    std::abort();
  }
  return v;
}

}  // namespace

std::string Brokers() { return RequiredEnv("MERIDIAN_KAFKA_BROKERS"); }

std::string ActAs(const std::string& who) {
  if (who.empty()) {
    SetClientTls({});
    return Brokers();
  }
  const std::string certs = RequiredEnv("MERIDIAN_CERTS_DIR");
  SetClientTls({RequiredEnv("MERIDIAN_TLS_CA"), certs + "/" + who + ".pem",
                certs + "/" + who + ".key"});
  return RequiredEnv("MERIDIAN_KAFKA_TLS_BROKERS");
}

std::string UniqueTopic(absl::string_view prefix) {
  std::random_device rd;
  return absl::StrCat("test.", prefix, ".", getpid(), ".", rd() % 1000000);
}

int Ctl(absl::string_view args) {
  std::string cmd = absl::StrCat(RequiredEnv("MERIDIAN_CTL"), " ", args,
                                 " >&2");
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace meridian::kafka::testing
