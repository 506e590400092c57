// deid-stream: wiring only (libs/service). Its own settings: DEID_KEYS (the
// pseudonym keys file, a secret), DEID_POLICY (default
// deploy/deid/public_health.textproto), DEID_RECIPIENT (the organisation the
// data is for, as consent sees it; default health-commission),
// DEID_CONSUMER_GROUP (deid-stream), DEID_START_AT (where a new group
// starts: earliest — a new region's stream carries its whole history — or
// latest).

#include "libs/deid/deid.h"
#include "libs/outbox/outbox.h"
#include "libs/service/log.h"
#include "libs/service/service_main.h"
#include "libs/xref/xref.h"
#include "services/deid-stream/pipeline.h"

int main(int argc, char** argv) {
  using namespace meridian;
  return service::Main(
      argc, argv,
      {.name = "deid-stream",
       .schema = "deid_stream",
       .topic = deidstream::kDeidTopic,
       .migrations = {outbox::MigrationSet(), xref::MigrationSet()}},
      [](service::Context& c) -> absl::StatusOr<service::Parts> {
        absl::StatusOr<std::vector<deid::Key>> keys =
            deid::LoadKeys(c.cfg.RequiredFile("DEID_KEYS"));
        if (!keys.ok()) return keys.status();
        absl::StatusOr<privacy::v1::Policy> policy = deid::LoadPolicy(
            c.cfg.String("DEID_POLICY", "deploy/deid/public_health.textproto"));
        if (!policy.ok()) return policy.status();
        for (const privacy::v1::Rule& r : policy->rules()) {
          if (r.action() == privacy::v1::SCRUB) {
            // Scrubbing promises the patient's own names are gone: the
            // stream has no source of names to give it.
            return absl::InvalidArgumentError(
                "DEID_POLICY: free text is scrubbed, but the stream knows no names to scrub");
          }
        }
        auto guard = deid::Deidentifier::Create(*std::move(policy), *std::move(keys));
        if (!guard.ok()) return guard.status();
        const std::string recipient = c.cfg.String("DEID_RECIPIENT", "health-commission");
        const orgs::Organisation* org = c.directory.Find(recipient);
        if (org == nullptr) {
          return absl::InvalidArgumentError("DEID_RECIPIENT: not in the organisation directory");
        }
        service::Parts parts;
        deid::Deidentifier* g = parts.Keep(*std::move(guard));
        auto* pipeline = parts.Keep(std::make_unique<deidstream::Pipeline>(
            c.xrefs, c.consent, g, &c.publisher,
            deidstream::PipelineOptions{.recipient = {recipient, orgs::RoleOf(org->type()), ""}}));
        // Progress in the log, when there is some.
        parts.periodic.push_back([pipeline, last = int64_t{-1}]() mutable {
          const int64_t now = pipeline->forwarded() + pipeline->withheld();
          if (now != last) {
            service::LogFields("info", "deid-stream", {{"forwarded", pipeline->forwarded()},
                                                       {"withheld", pipeline->withheld()}});
            last = now;
          }
          return absl::OkStatus();
        });
        parts.consumers.push_back(
            {deidstream::ClinicalTopics(), c.cfg.String("DEID_CONSUMER_GROUP", "deid-stream"),
             [pipeline](const kafka::ConsumedMessage& m) {
               absl::Status s = pipeline->Handle(m);
               if (!s.ok()) {  // retried or dead-lettered by the consumer; said here
                 service::LogFields("warn", "deid-stream", {{"topic", m.topic},
                                                           {"offset", m.offset},
                                                           {"error", s.ToString()}});
               }
               return s;
             },
             c.cfg.String("DEID_START_AT", "earliest"),
             // Batches: one consent round trip per patient, one publish.
             [pipeline](const std::vector<kafka::ConsumedMessage>& batch) {
               return pipeline->HandleBatch(batch);
             },
             static_cast<int>(c.cfg.Int("DEID_BATCH", 500, 1, 10000))});
        return parts;
      });
}
