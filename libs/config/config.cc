#include "libs/config/config.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace meridian::config {

Reader::Reader(std::string env_prefix) : prefix_(std::move(env_prefix)) {}

Reader Reader::FromProcess(int argc, char** argv, std::string env_prefix) {
  Reader r(std::move(env_prefix));
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      r.help_requested_ = true;
      continue;
    }
    size_t eq = arg.find('=');
    if (!absl::StartsWith(arg, "--") || eq == absl::string_view::npos ||
        eq == 2) {
      r.errors_.push_back(
          absl::StrCat("argument ", i, ": expected --name=value"));
      continue;
    }
    std::string name = absl::AsciiStrToUpper(arg.substr(2, eq - 2));
    r.Set(name, std::string(arg.substr(eq + 1)));
  }
  return r;
}

Reader& Reader::Set(absl::string_view name, std::string value) {
  overrides_[absl::AsciiStrToUpper(name)] = std::move(value);
  return *this;
}

std::string Reader::EnvName(absl::string_view name) const {
  return absl::StrCat(prefix_, absl::AsciiStrToUpper(name));
}

std::optional<std::string> Reader::Lookup(absl::string_view name) const {
  auto it = overrides_.find(absl::AsciiStrToUpper(name));
  if (it != overrides_.end()) return it->second;
  const char* v = std::getenv(EnvName(name).c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

void Reader::Error(absl::string_view name, absl::string_view what) {
  errors_.push_back(absl::StrCat(EnvName(name), ": ", what));
}

void Reader::Note(absl::string_view name, absl::string_view kind, std::string default_value,
                  bool required) {
  std::string upper = absl::AsciiStrToUpper(name);
  for (Documented& d : documented_) {
    if (d.name != upper) continue;
    // Read again as required (e.g. a default taken from it first): say so.
    if (required && !d.required) d = {std::move(upper), std::string(kind), "", true};
    return;
  }
  documented_.push_back({std::move(upper), std::string(kind), std::move(default_value), required});
}

std::string Reader::Usage() const {
  std::string out = "settings (flag --name=value, or the environment variable):\n";
  for (const Documented& d : documented_) {
    std::string flag = absl::StrCat("  --", absl::AsciiStrToLower(d.name), "=", d.kind);
    if (flag.size() < 40) flag.resize(40, ' ');
    absl::StrAppend(&out, flag, " ", EnvName(d.name),
                    d.required ? " (required)"
                               : absl::StrCat(" (default: ",
                                              d.default_value.empty() ? "none"
                                                                      : d.default_value,
                                              ")"),
                    "\n");
  }
  return out;
}

std::string Reader::RequiredString(absl::string_view name) {
  Note(name, "TEXT", "", true);
  std::optional<std::string> v = Lookup(name);
  if (!v.has_value() || v->empty()) {
    Error(name, "required but not set");
    return "";
  }
  return *v;
}

std::string Reader::String(absl::string_view name,
                           absl::string_view default_value) {
  Note(name, "TEXT", std::string(default_value));
  std::optional<std::string> v = Lookup(name);
  return v.has_value() ? *v : std::string(default_value);
}

int64_t Reader::Int(absl::string_view name, int64_t default_value, int64_t min,
                    int64_t max) {
  Note(name, absl::StrCat("INT[", min, "..", max, "]"), absl::StrCat(default_value));
  std::optional<std::string> v = Lookup(name);
  if (!v.has_value()) return default_value;
  int64_t out;
  if (!absl::SimpleAtoi(*v, &out)) {
    Error(name, "not an integer");
    return default_value;
  }
  if (out < min || out > max) {
    Error(name, absl::StrCat("must be between ", min, " and ", max));
    return default_value;
  }
  return out;
}

int Reader::Port(absl::string_view name, int default_value) {
  return static_cast<int>(Int(name, default_value, 1, 65535));
}

bool Reader::Bool(absl::string_view name, bool default_value) {
  Note(name, "BOOL", default_value ? "true" : "false");
  std::optional<std::string> v = Lookup(name);
  if (!v.has_value()) return default_value;
  bool out;
  if (!absl::SimpleAtob(*v, &out)) {
    Error(name, "not a boolean (true/false)");
    return default_value;
  }
  return out;
}

absl::Duration Reader::Duration(absl::string_view name,
                                absl::Duration default_value) {
  Note(name, "DURATION", absl::FormatDuration(default_value));
  std::optional<std::string> v = Lookup(name);
  if (!v.has_value()) return default_value;
  absl::Duration out;
  if (!absl::ParseDuration(*v, &out) || out < absl::ZeroDuration()) {
    Error(name, "not a duration (e.g. 250ms, 5s, 1m)");
    return default_value;
  }
  return out;
}

std::string Reader::RequiredFile(absl::string_view name) {
  Note(name, "FILE", "", true);
  std::string path = RequiredString(name);
  if (!path.empty() && access(path.c_str(), R_OK) != 0) {
    Error(name, absl::StrCat("cannot read file ", path));
  }
  return path;
}

absl::Status Reader::status() const {
  if (errors_.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid configuration: ", absl::StrJoin(errors_, "; ")));
}

void Reader::ExitIfInvalid() const {
  if (help_requested_) {
    std::cout << Usage() << std::flush;
    std::exit(0);
  }
  absl::Status s = status();
  if (s.ok()) return;
  std::cerr << s.message() << std::endl;
  std::exit(2);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", path));
  return buf.str();
}

}  // namespace meridian::config
