// meridian-privacy report: proof that the de-identified stream holds no
// direct identifier and how identifiable what it holds still is.
//
//   meridian-privacy report [--sample=N] [--k=5] [--topic=meridian.deid.v1]
//
// 1. Every direct identifier the platform holds about patients — resident
//    and card numbers, phone numbers, names (full names and given names of
//    two characters or more), local patient IDs of six characters or more —
//    read from the patient index's source records.
// 2. A sample of `meridian.deid.v1` (its first N events, read from the
//    start by a group of its own) searched byte for byte for every one of
//    them.
// 3. The registrations in the sample grouped by (age band, sex, district,
//    month): the smallest class and the share of records in classes smaller
//    than k.
//
// Prints one JSON object; exits 1 when any identifier was found (the
// report then names the event and the kind of identifier, never the value).
#include <atomic>
#include <iostream>
#include <map>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/config/config.h"
#include "libs/kafka/kafka.h"
#include "libs/outbox/outbox.h"
#include "libs/pg/pool.h"
#include "meridian/patient/v1/events.pb.h"
#include "meridian/patient/v1/patient_index.pb.h"

namespace {

using namespace meridian;

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "meridian-privacy: " << what << std::endl;
  std::exit(2);
}

// Byte strings to look for, grouped by length so a scan hashes each window
// once per length.
class Needles {
 public:
  void Add(const std::string& value, const char* kind) {
    if (value.size() < 4) return;  // too short to mean anything alone
    by_length_[value.size()].emplace(value, kind);
  }
  // The kind of the first identifier inside `bytes`, or nullptr.
  const char* FindIn(absl::string_view bytes) const {
    for (const auto& [length, values] : by_length_) {
      for (size_t i = 0; i + length <= bytes.size(); ++i) {
        auto it = values.find(bytes.substr(i, length));
        if (it != values.end()) return it->second;
      }
    }
    return nullptr;
  }
  size_t size() const {
    size_t n = 0;
    for (const auto& [length, values] : by_length_) n += values.size();
    return n;
  }

 private:
  std::map<size_t, absl::flat_hash_map<std::string, const char*>> by_length_;
};

size_t Characters(const std::string& utf8) {
  size_t n = 0;
  for (char c : utf8) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

Needles IdentifiersFromThePatientIndex(pg::Pool& pool) {
  Needles needles;
  absl::Status s = pool.Read([&](pqxx::nontransaction& tx) {
    for (const auto& row :
         tx.exec("SELECT request, local_id FROM patient_index.source_record")) {
      patient::v1::RegisterPatientRequest r;
      if (!r.ParseFromString(pqxx::binarystring(row[0]).str())) continue;
      const auto& d = r.demographics();
      needles.Add(d.family_name() + d.given_name(), "name");
      if (Characters(d.given_name()) >= 2) needles.Add(d.given_name(), "name");
      needles.Add(d.name_pinyin(), "name");
      needles.Add(d.birth_date(), "birth date");
      needles.Add(d.address().locality(), "address");
      needles.Add(d.phone(), "phone");
      needles.Add(d.address().line(), "address");
      for (const auto& id : r.identifiers()) needles.Add(id.value(), "identifier");
      const std::string local = row[1].as<std::string>();
      if (local.size() >= 6) needles.Add(local, "local patient ID");
    }
    return absl::OkStatus();
  });
  if (!s.ok()) Die(s.ToString());
  return needles;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) != "report") {
    std::cerr << "usage: meridian-privacy report [--sample=N] [--k=K] [--topic=T]\n"
                 "(MERIDIAN_PG_URI, MERIDIAN_KAFKA_TLS_BROKERS and MERIDIAN_CERTS_DIR from the\n"
                 "environment: the report reads the de-identified topic as the privacy\n"
                 "auditor, certificate privacy-auditor.pem, over Kafka's TLS listener)"
              << std::endl;
    return 2;
  }
  config::Reader cfg = config::Reader::FromProcess(argc - 1, argv + 1);
  const std::string pg_uri = cfg.RequiredString("PG_URI");
  // The de-identified topic has ACLs: read it as the privacy auditor.
  const std::string brokers = cfg.RequiredString("KAFKA_TLS_BROKERS");
  const std::string certs = cfg.String("CERTS_DIR", "");
  const std::string cert = cfg.String("KAFKA_CLIENT_CERT", certs + "/privacy-auditor.pem");
  const std::string key = cfg.String("KAFKA_CLIENT_KEY", certs + "/privacy-auditor.key");
  const std::string ca = cfg.String("TLS_CA", certs + "/ca.pem");
  const int sample = static_cast<int>(cfg.Int("SAMPLE", 10000, 1, 10000000));
  const int k = static_cast<int>(cfg.Int("K", 5, 2, 100));
  const std::string topic = cfg.String("TOPIC", "meridian.deid.v1");
  cfg.ExitIfInvalid();
  kafka::SetClientTls({ca, cert, key});

  pg::Pool pool({.uri = pg_uri, .max_connections = 1, .application_name = "meridian-privacy"});
  const Needles needles = IdentifiersFromThePatientIndex(pool);

  auto publisher = kafka::MakeKafkaPublisher({.brokers = brokers});
  if (!publisher.ok()) Die(publisher.status().ToString());
  auto consumer = kafka::MakeKafkaConsumer(
      {.brokers = brokers,
       .group_id = absl::StrCat("privacy-report-", absl::ToUnixNanos(absl::Now())),
       .topics = {topic}},
      publisher->get());
  if (!consumer.ok()) Die(consumer.status().ToString());

  std::atomic<int> scanned{0};
  std::atomic<int64_t> last_message_ns{absl::ToUnixNanos(absl::Now())};
  std::vector<std::string> hits;
  // (age band, sex, district, month) per registration.
  std::map<std::tuple<std::string, int, std::string, std::string>, int> classes;
  std::thread consuming([&] {
    absl::Status s = (*consumer)->Run([&](const kafka::ConsumedMessage& m) {
      last_message_ns = absl::ToUnixNanos(absl::Now());
      if (scanned.load() >= sample) return absl::OkStatus();
      ++scanned;
      if (const char* kind = needles.FindIn(m.value)) {
        hits.push_back(absl::StrCat(kind, " in event at partition ", m.partition, " offset ",
                                    m.offset));
      }
      absl::StatusOr<events::v1::EventEnvelope> e = outbox::ParseEnvelope(m);
      patient::v1::PatientRegistered registered;
      if (e.ok() && e->payload().UnpackTo(&registered)) {
        const auto& d = registered.profile();
        const absl::CivilMonth month = absl::ToCivilMonth(
            absl::FromUnixSeconds(e->occurred_at().seconds()), absl::FixedTimeZone(8 * 3600));
        ++classes[{d.birth_date(), d.sex(), d.district_code(),
                   absl::FormatCivilTime(month)}];
      }
      return absl::OkStatus();
    });
    if (!s.ok()) Die(s.ToString());
  });
  // Stop at the sample size, or when the topic has been quiet for 5 s
  // after its first message (joining the group takes seconds: up to 60 s
  // for the first).
  const absl::Time started = absl::Now();
  while (scanned.load() < sample) {
    const absl::Duration quiet = absl::Now() - absl::FromUnixNanos(last_message_ns.load());
    if (scanned.load() > 0 ? quiet > absl::Seconds(5) : absl::Now() - started > absl::Seconds(60)) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  (*consumer)->Stop();
  consuming.join();

  int records = 0, in_small = 0, smallest = 0;
  for (const auto& [key, size] : classes) {
    records += size;
    if (size < k) in_small += size;
    if (smallest == 0 || size < smallest) smallest = size;
  }
  std::cout << "{\"report\":\"privacy\",\"events_scanned\":" << scanned.load()
            << ",\"identifiers_searched\":" << needles.size()
            << ",\"identifier_hits\":" << hits.size() << ",\"registrations\":" << records
            << ",\"equivalence_classes\":" << classes.size()
            << ",\"smallest_class\":" << smallest << ",\"k\":" << k
            << ",\"share_in_classes_below_k\":"
            << (records == 0 ? 0.0 : static_cast<double>(in_small) / records) << "}"
            << std::endl;
  for (const std::string& h : hits) std::cerr << "meridian-privacy: found a " << h << std::endl;
  if (scanned.load() == 0) {
    std::cerr << "meridian-privacy: nothing to scan: no proof either way" << std::endl;
    return 1;
  }
  return hits.empty() ? 0 : 1;
}
