// Typed settings read from the environment and from command-line flags.
//
// A setting is named once, in upper case without the prefix: "PG_URI" is read
// from the flag --pg_uri=... or, failing that, from MERIDIAN_PG_URI. Every
// accessor records what is wrong (missing, not a number, out of range) instead
// of failing at once, so a service reports every bad setting in one message:
//
//   config::Reader cfg = config::Reader::FromProcess(argc, argv);
//   std::string uri = cfg.RequiredString("PG_URI");
//   int port = cfg.Port("GRPC_PORT", 50051);
//   cfg.ExitIfInvalid();  // prints "invalid configuration: MERIDIAN_PG_URI: ..."
//
// `--help` on the command line makes the first ExitIfInvalid() print every
// setting read so far (its flag, environment variable and default) and exit 0,
// so a program documents the settings it actually reads.
#ifndef MERIDIAN_LIBS_CONFIG_CONFIG_H_
#define MERIDIAN_LIBS_CONFIG_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace meridian::config {

class Reader {
 public:
  explicit Reader(std::string env_prefix = "MERIDIAN_");

  // Environment plus --name=value flags from argv (flags win). `--help` asks
  // for the usage (see ExitIfInvalid); anything else in argv that is not a
  // --name=value flag is recorded as an error.
  static Reader FromProcess(int argc, char** argv,
                            std::string env_prefix = "MERIDIAN_");

  // Overrides a setting (tests, tools).
  Reader& Set(absl::string_view name, std::string value);

  std::string RequiredString(absl::string_view name);
  std::string String(absl::string_view name, absl::string_view default_value);
  int64_t Int(absl::string_view name, int64_t default_value, int64_t min,
              int64_t max);
  int Port(absl::string_view name, int default_value);
  bool Bool(absl::string_view name, bool default_value);
  // Accepts absl durations: "250ms", "5s", "1h30m".
  absl::Duration Duration(absl::string_view name, absl::Duration default_value);
  // A path to a file that must exist and be readable.
  std::string RequiredFile(absl::string_view name);

  // OK, or INVALID_ARGUMENT listing every bad setting by its environment name.
  absl::Status status() const;
  // With --help: prints Usage() to stdout and exits 0. Otherwise prints
  // status() to stderr and exits with code 2 when it is not OK.
  void ExitIfInvalid() const;

  bool help_requested() const { return help_requested_; }
  // One line per setting read so far, in the order read: flag, environment
  // variable, and "(required)" or its default.
  std::string Usage() const;

  // The environment variable that backs `name`, e.g. "MERIDIAN_PG_URI".
  std::string EnvName(absl::string_view name) const;

  // Records `name` as invalid for a check the typed readers cannot make (a
  // format, a bound between settings); ExitIfInvalid reports it with the rest.
  void Error(absl::string_view name, absl::string_view what);

 private:
  std::optional<std::string> Lookup(absl::string_view name) const;
  // Records a setting for Usage(); `default_value` empty and `required` for
  // one without a default.
  void Note(absl::string_view name, absl::string_view kind, std::string default_value,
            bool required = false);

  struct Documented {
    std::string name;
    std::string kind;
    std::string default_value;
    bool required;
  };

  std::string prefix_;
  bool help_requested_ = false;
  std::vector<Documented> documented_;
  absl::flat_hash_map<std::string, std::string> overrides_;
  std::vector<std::string> errors_;
};

// The whole content of the file at `path`; NOT_FOUND naming the path when it
// cannot be read.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace meridian::config

#endif  // MERIDIAN_LIBS_CONFIG_CONFIG_H_
