// Every field of every message under proto/ carries a privacy class: the
// de-identifier can then judge each one, and a new field without one fails
// here before it can reach analytics (where it would be dropped).
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "google/protobuf/compiler/importer.h"
#include "google/protobuf/descriptor.h"
#include "meridian/privacy/v1/privacy.pb.h"

namespace meridian::deid {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FileDescriptor;

void Unclassified(const Descriptor* d, std::vector<std::string>* out) {
  // A map's entries are judged by the map field's class (libs/deid).
  if (d->options().map_entry()) return;
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (f->options().GetExtension(privacy::v1::data_class) ==
        privacy::v1::DATA_CLASS_UNSPECIFIED) {
      out->push_back(f->full_name());
    }
  }
  for (int i = 0; i < d->nested_type_count(); ++i) Unclassified(d->nested_type(i), out);
}

// Collects what the parser says about the .proto files.
class Errors : public google::protobuf::compiler::MultiFileErrorCollector {
 public:
  void AddError(const std::string& file, int line, int column,
                const std::string& message) override {
    errors.push_back(absl::StrCat(file, ":", line + 1, ":", column + 1, ": ", message));
  }
  std::vector<std::string> errors;
};

TEST(Schema, EveryFieldOfEveryMessageIsClassified) {
  // The files as written (not as linked into some binary): every one of
  // them, parsed with protobuf's own parser.
  google::protobuf::compiler::DiskSourceTree tree;
  tree.MapPath("", MERIDIAN_PROTO_DIR);
  tree.MapPath("", MERIDIAN_PROTOBUF_INCLUDE);
  Errors errors;
  google::protobuf::compiler::Importer importer(&tree, &errors);
  const std::filesystem::path root(MERIDIAN_PROTO_DIR);
  std::vector<std::string> unclassified;
  int files = 0, messages = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (entry.path().extension() != ".proto") continue;
    const std::string name = std::filesystem::relative(entry.path(), root).string();
    const FileDescriptor* file = importer.Import(name);
    ASSERT_NE(file, nullptr) << name << ": " << absl::StrJoin(errors.errors, "; ");
    ++files;
    for (int i = 0; i < file->message_type_count(); ++i) {
      ++messages;
      Unclassified(file->message_type(i), &unclassified);
    }
  }
  EXPECT_THAT(unclassified, ::testing::IsEmpty())
      << "fields without (meridian.privacy.v1.data_class): " << absl::StrJoin(unclassified, ", ");
  EXPECT_GE(files, 15);
  EXPECT_GE(messages, 100);
}

// The check itself sees a missing class (so an empty list above means
// something).
TEST(Schema, AFieldWithoutAClassIsFound) {
  google::protobuf::compiler::DiskSourceTree tree;
  tree.MapPath("", MERIDIAN_PROTO_DIR);
  tree.MapPath("", MERIDIAN_PROTOBUF_INCLUDE);
  const std::string dir = ::testing::TempDir() + "/schema_probe";
  std::filesystem::create_directories(dir + "/probe");
  std::ofstream(dir + "/probe/probe.proto") << R"(syntax = "proto3";
package probe;
import "meridian/privacy/v1/privacy.proto";
message M {
  string ok = 1 [(meridian.privacy.v1.data_class) = SAFE];
  string forgotten = 2;
  message N { int32 deep = 1; }
})";
  tree.MapPath("", dir);
  Errors errors;
  google::protobuf::compiler::Importer importer(&tree, &errors);
  const FileDescriptor* file = importer.Import("probe/probe.proto");
  ASSERT_NE(file, nullptr) << absl::StrJoin(errors.errors, "; ");
  std::vector<std::string> unclassified;
  Unclassified(file->message_type(0), &unclassified);
  EXPECT_THAT(unclassified, ::testing::ElementsAre("probe.M.forgotten", "probe.M.N.deep"));
}

}  // namespace
}  // namespace meridian::deid
