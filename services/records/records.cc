#include "services/records/records.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/time_util.h"
#include "google/protobuf/wire_format_lite.h"
#include "libs/audit/audit.h"
#include "libs/ids/uuid.h"
#include "libs/status/retry.h"
#include "libs/status/status_macros.h"
#include "libs/timestamps/timestamps.h"
#include "services/records/validation.h"

namespace meridian::records {
namespace {

using google::protobuf::Timestamp;

std::string Serialize(const google::protobuf::Message& m) {
  std::string out;
  m.SerializeToString(&out);
  return out;
}

v1::RecordCategory CategoryOf(Kind kind) {
  return static_cast<v1::RecordCategory>(static_cast<int>(kind));
}

// The consent category that governs a kind of record.
consent::v1::DataCategory ConsentCategoryOf(Kind kind) {
  return kind == Kind::kDocument ? consent::v1::DOCUMENTS : consent::v1::RECORDS;
}

absl::StatusOr<Kind> KindOf(v1::RecordCategory category, absl::string_view field) {
  switch (category) {
    case v1::ENCOUNTERS: return Kind::kEncounter;
    case v1::DOCUMENTS: return Kind::kDocument;
    case v1::REFERRALS: return Kind::kReferral;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": must be ENCOUNTERS, DOCUMENTS or REFERRALS"));
  }
}

RecordRow RowOf(const std::string& organisation, const v1::Encounter& e) {
  RecordRow row{.kind = Kind::kEncounter,
                .organisation_id = organisation,
                .local_id = e.local_id(),
                .patient_local_id = e.patient_local_id(),
                .clinical_time = timestamps::FromProto(e.start_time()),
                .entered_in_error = e.entered_in_error(),
                .body = Serialize(e)};
  for (const v1::Diagnosis& d : e.diagnoses()) row.codes.push_back(d.icd10_code());
  return row;
}

RecordRow RowOf(const std::string& organisation, const v1::ClinicalDocument& d) {
  return {.kind = Kind::kDocument,
          .organisation_id = organisation,
          .local_id = d.local_id(),
          .patient_local_id = d.patient_local_id(),
          .clinical_time = timestamps::FromProto(d.authored_at()),
          .entered_in_error = d.entered_in_error(),
          .body = Serialize(d)};
}

RecordRow RowOf(const std::string& organisation, const v1::Referral& r) {
  RecordRow row{.kind = Kind::kReferral,
                .organisation_id = organisation,
                .local_id = r.local_id(),
                .patient_local_id = r.patient_local_id(),
                .clinical_time = timestamps::FromProto(r.requested_at()),
                .counterpart_organisation = r.to_organisation_id(),
                .entered_in_error = r.entered_in_error(),
                .body = Serialize(r)};
  if (!r.icd10_code().empty()) row.codes.push_back(r.icd10_code());
  return row;
}

// The wire form of {organisation_id = 1, version = 2, record = 3} with the
// record already serialized.
std::string RecordPayload(const std::string& organisation, int64_t version,
                          const std::string& record) {
  using google::protobuf::internal::WireFormatLite;
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    WireFormatLite::WriteString(1, organisation, &coded);
    WireFormatLite::WriteInt64(2, version, &coded);
    WireFormatLite::WriteBytes(3, record, &coded);
  }
  return out;
}

// The outbox event for a written row. `source` is the institution whose act
// it records (the referral's receiver for a status change).
absl::StatusOr<outbox::PendingEvent> EventOf(const RecordRow& row, const WriteResult& result,
                                             const std::string& source,
                                             const std::string& regional_id) {
  outbox::EventHeader header{.topic = kRecordsTopic,
                             .key = absl::StrCat(row.organisation_id, "/",
                                                 row.patient_local_id),
                             .source_organisation = source,
                             .regional_patient_id = regional_id,
                             .producer = kServiceName};
  // The three payloads share one shape: organisation_id = 1, version = 2,
  // the record = 3; encounters and referrals carry the stored body as it is
  // (no parse), documents their metadata only.
  std::string body_for_event;
  const std::string* body = &row.body;
  absl::string_view payload_type;
  switch (row.kind) {
    case Kind::kEncounter:
      header.type = result.outcome == v1::CREATED ? "encounter.recorded" : "encounter.updated";
      payload_type = v1::EncounterRecorded::descriptor()->full_name();
      break;
    case Kind::kDocument: {
      v1::ClinicalDocument metadata;
      if (!metadata.ParseFromString(row.body)) break;
      metadata.clear_text();
      body_for_event = metadata.SerializeAsString();
      body = &body_for_event;
      header.type = "document.filed";
      payload_type = v1::DocumentFiled::descriptor()->full_name();
      break;
    }
    case Kind::kReferral:
      header.type = "referral.changed";
      payload_type = v1::ReferralChanged::descriptor()->full_name();
      break;
  }
  absl::StatusOr<events::v1::EventEnvelope> env;
  if (!header.type.empty()) {
    env = outbox::NewEnvelope(header, payload_type,
                              RecordPayload(row.organisation_id, result.version, *body));
  }
  if (header.type.empty()) return absl::InternalError("record body does not parse");
  if (!env.ok()) return env.status();
  return outbox::PendingEvent{kRecordsTopic, *std::move(env)};
}

v1::PushResult ResultOf(const RecordRow& row, const WriteResult& w) {
  v1::PushResult r;
  r.set_local_id(row.local_id);
  r.set_outcome(w.outcome);
  r.set_version(w.version);
  return r;
}

absl::StatusOr<v1::RecordEntry> EntryOf(const StoredRecord& s) {
  v1::RecordEntry e;
  e.set_organisation_id(s.row.organisation_id);
  e.set_version(s.version);
  *e.mutable_recorded_at() = timestamps::ToProto(s.recorded_at);
  bool parsed = false;
  switch (s.row.kind) {
    case Kind::kEncounter: parsed = e.mutable_encounter()->ParseFromString(s.row.body); break;
    case Kind::kDocument: parsed = e.mutable_document()->ParseFromString(s.row.body); break;
    case Kind::kReferral: parsed = e.mutable_referral()->ParseFromString(s.row.body); break;
  }
  if (!parsed) return absl::InternalError("stored record does not parse");
  return e;
}

// Page tokens: the last entry's sort key.
std::string EncodeCursor(const RecordRow& r) {
  return fields::EncodePageToken(
      r.clinical_time, {std::to_string(static_cast<int>(r.kind)), r.organisation_id, r.local_id});
}

absl::StatusOr<Cursor> DecodeCursor(const std::string& token) {
  MERIDIAN_ASSIGN_OR_RETURN(fields::PageKey key, fields::DecodePageToken(token, 3));
  int kind = 0;
  if (!absl::SimpleAtoi(key.keys[0], &kind) || kind < 1 || kind > 3 ||
      !orgs::IsValidOrganisationId(key.keys[1]) || !IsValidLocalId(key.keys[2])) {
    return fields::Invalid("page_token", "not a token this service issued");
  }
  return Cursor{key.time, key.keys[1], static_cast<Kind>(kind), key.keys[2]};
}

bool CanMove(v1::ReferralStatus from, v1::ReferralStatus to) {
  switch (from) {
    case v1::REQUESTED: return to == v1::ACCEPTED || to == v1::DECLINED;
    case v1::ACCEPTED: return to == v1::COMPLETED || to == v1::DECLINED;
    default: return false;
  }
}

absl::Status ErrorFor(const v1::RecordItem& item) {
  return absl::InvalidArgumentError("record: one of encounter, document or referral is required");
}

}  // namespace

absl::StatusOr<RecordRow> RowFor(const std::string& organisation,
                                 const v1::RecordItem& item) {
  switch (item.record_case()) {
    case v1::RecordItem::kEncounter: return RowOf(organisation, item.encounter());
    case v1::RecordItem::kDocument: return RowOf(organisation, item.document());
    case v1::RecordItem::kReferral: return RowOf(organisation, item.referral());
    default: return ErrorFor(item);
  }
}

Records::Records(RecordStore* store, xref::XrefStore* xrefs, consent::Checker* consent,
                 const orgs::Directory* directory, RecordsOptions options)
    : store_(store), xrefs_(xrefs), consent_(consent), directory_(directory),
      options_(std::move(options)) {}

absl::StatusOr<WriteRequest> Records::Prepare(const std::string& organisation,
                                              const v1::RecordItem& item, absl::Time now) {
  switch (item.record_case()) {
    case v1::RecordItem::kEncounter:
      MERIDIAN_RETURN_IF_ERROR(ValidateEncounter(item.encounter(), now));
      return WriteRequest{RowOf(organisation, item.encounter()), std::nullopt};
    case v1::RecordItem::kDocument:
      MERIDIAN_RETURN_IF_ERROR(ValidateDocument(item.document(), now));
      return WriteRequest{RowOf(organisation, item.document()), std::nullopt};
    case v1::RecordItem::kReferral: {
      MERIDIAN_RETURN_IF_ERROR(ValidateReferral(item.referral(), organisation, *directory_, now));
      // The status belongs to the receiving institution: a push keeps it.
      v1::Referral referral = item.referral();
      MERIDIAN_ASSIGN_OR_RETURN(
          std::optional<StoredRecord> current,
          store_->Get({Kind::kReferral, organisation, referral.local_id()}));
      if (current.has_value()) {
        v1::Referral stored;
        if (!stored.ParseFromString(current->row.body)) {
          return absl::InternalError("stored referral does not parse");
        }
        referral.set_status(stored.status());
        referral.set_status_note(stored.status_note());
        *referral.mutable_status_changed_at() = stored.status_changed_at();
      } else {
        referral.set_status(v1::REQUESTED);
        referral.clear_status_note();
        *referral.mutable_status_changed_at() = referral.requested_at();
      }
      return WriteRequest{RowOf(organisation, referral),
                          current.has_value() ? current->version : 0};
    }
    default:
      return ErrorFor(item);
  }
}

absl::StatusOr<std::vector<WriteResult>> Records::WriteBatch(
    const std::string& organisation, const std::vector<WriteRequest>& requests) {
  // Regional IDs where already known, for the events' envelopes.
  std::vector<xref::LocalId> patients;
  patients.reserve(requests.size());
  for (const WriteRequest& r : requests) {
    patients.push_back({r.row.organisation_id, r.row.patient_local_id});
  }
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::string> regional, xrefs_->RegionalIdsOf(patients));
  return store_->Write(requests, [&](const WriteRequest& r, const WriteResult& w) {
    const size_t i = &r - requests.data();
    return EventOf(r.row, w, organisation, regional[i]);
  });
}

absl::StatusOr<v1::PushResult> Records::PushOne(const std::string& organisation,
                                                const v1::RecordItem& item) {
  return status::RetryIfAborted(
      options_.max_attempts, [&]() -> absl::StatusOr<v1::PushResult> {
        MERIDIAN_ASSIGN_OR_RETURN(WriteRequest request,
                                  Prepare(organisation, item, options_.clock()));
        std::vector<WriteRequest> one;
        one.push_back(std::move(request));
        MERIDIAN_ASSIGN_OR_RETURN(std::vector<WriteResult> written,
                                  WriteBatch(organisation, one));
        return ResultOf(one[0].row, written.at(0));
      });
}

absl::StatusOr<v1::PushResult> Records::Push(const std::string& organisation,
                                             const v1::RecordItem& item) {
  return PushOne(organisation, item);
}

std::vector<v1::PushRecordsResponse::ItemResult> Records::PushMany(
    const std::string& organisation, const std::vector<v1::RecordItem>& items,
    int first_index) {
  std::vector<v1::PushRecordsResponse::ItemResult> results(items.size());
  for (size_t i = 0; i < items.size(); ++i) results[i].set_index(first_index + static_cast<int>(i));
  auto fail = [&](size_t i, const absl::Status& s) {
    results[i].set_code(static_cast<int>(s.code()));
    results[i].set_error(std::string(s.message()));
  };

  std::vector<WriteRequest> batch;
  std::vector<size_t> batch_items;  // item index of each request
  std::set<std::tuple<int, std::string>> batch_keys;
  auto flush = [&] {
    if (batch.empty()) return;
    absl::StatusOr<std::vector<WriteResult>> written = WriteBatch(organisation, batch);
    if (written.ok()) {
      for (size_t j = 0; j < batch.size(); ++j) {
        *results[batch_items[j]].mutable_result() = ResultOf(batch[j].row, written->at(j));
      }
    } else if (absl::IsAborted(written.status())) {
      // Lost a race with another writer: redo these one by one.
      for (size_t j : batch_items) {
        absl::StatusOr<v1::PushResult> r = PushOne(organisation, items[j]);
        if (r.ok()) {
          *results[j].mutable_result() = *std::move(r);
        } else {
          fail(j, r.status());
        }
      }
    } else {
      for (size_t j : batch_items) fail(j, written.status());
    }
    batch.clear();
    batch_items.clear();
    batch_keys.clear();
  };

  const absl::Time now = options_.clock();
  for (size_t i = 0; i < items.size(); ++i) {
    absl::StatusOr<WriteRequest> request = Prepare(organisation, items[i], now);
    if (!request.ok()) {
      fail(i, request.status());
      continue;
    }
    // A record pushed twice in one stream: the later version follows the
    // earlier one in a later transaction.
    if (!batch_keys.emplace(static_cast<int>(request->row.kind), request->row.local_id).second) {
      flush();
      batch_keys.emplace(static_cast<int>(request->row.kind), request->row.local_id);
      // A referral's if_version was read before the earlier version landed.
      if (request->row.kind == Kind::kReferral) {
        request = Prepare(organisation, items[i], now);
        if (!request.ok()) {
          fail(i, request.status());
          batch_keys.clear();
          continue;
        }
      }
    }
    batch.push_back(*std::move(request));
    batch_items.push_back(i);
    if (static_cast<int>(batch.size()) >= options_.batch_size) flush();
  }
  flush();
  return results;
}

absl::StatusOr<v1::PushResult> Records::UpdateReferralStatus(
    const std::string& organisation, const v1::UpdateReferralStatusRequest& request) {
  if (!orgs::IsValidOrganisationId(request.from_organisation_id())) {
    return absl::InvalidArgumentError("from_organisation_id: not an organisation ID");
  }
  if (!IsValidLocalId(request.local_id())) {
    return absl::InvalidArgumentError(
        "local_id: must be 1-64 printable ASCII characters without spaces");
  }
  if (request.status() != v1::ACCEPTED && request.status() != v1::COMPLETED &&
      request.status() != v1::DECLINED) {
    return absl::InvalidArgumentError("status: must be ACCEPTED, COMPLETED or DECLINED");
  }
  if (request.note().size() > 2000) {
    return absl::InvalidArgumentError("note: longer than 2000 bytes");
  }
  const absl::Status not_found = absl::NotFoundError(
      "no referral with this ID was made to your institution");
  return status::RetryIfAborted(
      options_.max_attempts, [&]() -> absl::StatusOr<v1::PushResult> {
        MERIDIAN_ASSIGN_OR_RETURN(
            std::optional<StoredRecord> current,
            store_->Get({Kind::kReferral, request.from_organisation_id(), request.local_id()}));
        // Only the receiving institution may see that the referral exists.
        if (!current.has_value() || current->row.counterpart_organisation != organisation) {
          return not_found;
        }
        v1::Referral referral;
        if (!referral.ParseFromString(current->row.body)) {
          return absl::InternalError("stored referral does not parse");
        }
        if (referral.entered_in_error()) {
          return absl::FailedPreconditionError("the referral was withdrawn (entered in error)");
        }
        if (referral.status() == request.status() && referral.status_note() == request.note()) {
          return ResultOf(current->row, {v1::UNCHANGED, current->version});  // a retry
        }
        if (referral.status() != request.status() &&
            !CanMove(referral.status(), request.status())) {
          return absl::FailedPreconditionError(absl::StrCat(
              "status: a ", v1::ReferralStatus_Name(referral.status()),
              " referral cannot become ", v1::ReferralStatus_Name(request.status())));
        }
        referral.set_status(request.status());
        referral.set_status_note(request.note());
        *referral.mutable_status_changed_at() = timestamps::ToProto(options_.clock());
        std::vector<WriteRequest> one;
        one.push_back({RowOf(current->row.organisation_id, referral), current->version});
        MERIDIAN_ASSIGN_OR_RETURN(std::vector<WriteResult> written, WriteBatch(organisation, one));
        return ResultOf(one[0].row, written.at(0));
      });
}

absl::StatusOr<v1::GetPatientRecordResponse> Records::GetPatientRecord(
    const consent::Accessor& accessor, const v1::GetPatientRecordRequest& request) {
  if (!ids::IsUuid(request.regional_id())) {
    return absl::InvalidArgumentError("regional_id: not a regional patient ID");
  }
  MERIDIAN_ASSIGN_OR_RETURN(
      const consent::v1::Purpose purpose,
      consent::ReadPurpose(request.purpose(), request.break_glass_reason()));
  if (request.page_size() < 0 || request.page_size() > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat("page_size: must be 1-", kMaxPageSize));
  }
  RecordQuery query;
  query.limit = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  for (const auto* t : {&request.from(), &request.to()}) {
    if (!timestamps::IsValid(*t)) {
      return absl::InvalidArgumentError(
          t == &request.from() ? "from: not a valid timestamp" : "to: not a valid timestamp");
    }
  }
  if (request.has_from()) query.from = timestamps::FromProto(request.from());
  if (request.has_to()) query.to = timestamps::FromProto(request.to());
  if (query.from >= query.to) return absl::InvalidArgumentError("to: not after from");
  if (!request.page_token().empty()) {
    MERIDIAN_ASSIGN_OR_RETURN(query.after, DecodeCursor(request.page_token()));
  }
  std::vector<Kind> kinds;
  for (int c : request.categories()) {
    MERIDIAN_ASSIGN_OR_RETURN(Kind k, KindOf(static_cast<v1::RecordCategory>(c), "categories"));
    if (std::find(kinds.begin(), kinds.end(), k) == kinds.end()) kinds.push_back(k);
  }
  if (kinds.empty()) kinds = {Kind::kEncounter, Kind::kDocument, Kind::kReferral};

  MERIDIAN_ASSIGN_OR_RETURN(query.patients, xrefs_->LocalIdsOf(request.regional_id()));
  if (query.patients.empty()) {
    return absl::NotFoundError("regional_id: no patient with this ID is known here");
  }

  // One consent decision per category; other institutions' data only where
  // permitted. A decision that cannot be reached fails the read.
  v1::GetPatientRecordResponse response;
  audit::v1::AccessRecorded access =
      audit::NewAccess(kServiceName, "GetPatientRecord", accessor, request.regional_id(),
                       purpose, request.break_glass_reason());
  // The consent categories the kinds need, each asked once, in one call.
  std::vector<consent::v1::DataCategory> categories;
  for (Kind k : kinds) {
    const consent::v1::DataCategory c = ConsentCategoryOf(k);
    if (std::find(categories.begin(), categories.end(), c) == categories.end()) {
      categories.push_back(c);
    }
  }
  MERIDIAN_ASSIGN_OR_RETURN(
      std::vector<consent::Decision> decided,
      consent_->CheckAll({.accessor = accessor,
                          .regional_id = request.regional_id(),
                          .purpose = purpose,
                          .break_glass_reason = request.break_glass_reason()},
                         categories));
  absl::flat_hash_map<int, consent::Decision> decisions;
  for (size_t i = 0; i < categories.size(); ++i) {
    audit::AddDecision(categories[i], decided[i], &access);
    decisions.emplace(categories[i], decided[i]);
  }
  for (Kind k : kinds) {
    const consent::Decision& d = decisions.at(ConsentCategoryOf(k));
    query.own_kinds.push_back(k);
    if (d.permitted()) {
      query.shared_kinds.push_back(k);
    } else {
      v1::Withheld* w = response.add_withheld();
      w->set_category(CategoryOf(k));
      w->set_reason(d.reason);
    }
  }
  query.caller_organisation = accessor.organisation_id;

  auto documents = decisions.find(consent::v1::DOCUMENTS);
  const bool withhold_text = documents != decisions.end() &&
                             documents->second.Has(consent::v1::WITHHOLD_DOCUMENT_TEXT);
  // The page is built inside the read's transaction so that the audit event
  // states exactly what is disclosed (the function may run again if the
  // transaction is retried).
  auto build_page = [&](const std::vector<StoredRecord>& found)
      -> absl::StatusOr<outbox::PendingEvent> {
    response.clear_entries();
    response.clear_next_page_token();
    access.clear_disclosed_organisations();
    std::set<std::string> disclosed;
    size_t bytes = 0;
    for (size_t i = 0; i < found.size(); ++i) {
      const StoredRecord& s = found[i];
      MERIDIAN_ASSIGN_OR_RETURN(v1::RecordEntry entry, EntryOf(s));
      if (withhold_text && entry.has_document() &&
          s.row.organisation_id != accessor.organisation_id) {
        entry.mutable_document()->clear_text();
      }
      bytes += entry.ByteSizeLong();
      if (bytes > kMaxPageBytes && i > 0) {
        // Large documents: end the page early; the next one starts here.
        response.set_next_page_token(EncodeCursor(found[i - 1].row));
        break;
      }
      disclosed.insert(s.row.organisation_id);
      *response.add_entries() = std::move(entry);
    }
    if (response.next_page_token().empty() &&
        static_cast<int>(found.size()) == query.limit) {
      response.set_next_page_token(EncodeCursor(found.back().row));
    }
    for (const std::string& o : disclosed) access.add_disclosed_organisations(o);
    access.set_items_returned(response.entries_size());
    return audit::AccessEvent(access);
  };
  MERIDIAN_RETURN_IF_ERROR(store_->Query(query, build_page));
  return response;
}

absl::StatusOr<v1::GetRecordHistoryResponse> Records::GetRecordHistory(
    const std::string& organisation, const v1::GetRecordHistoryRequest& request) {
  MERIDIAN_ASSIGN_OR_RETURN(Kind kind, KindOf(request.category(), "category"));
  if (!IsValidLocalId(request.local_id())) {
    return absl::InvalidArgumentError(
        "local_id: must be 1-64 printable ASCII characters without spaces");
  }
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<StoredRecord> versions,
                            store_->History({kind, organisation, request.local_id()}));
  if (versions.empty()) {
    return absl::NotFoundError("no record with this ID from your institution");
  }
  v1::GetRecordHistoryResponse response;
  for (const StoredRecord& s : versions) {
    MERIDIAN_ASSIGN_OR_RETURN(*response.add_versions(), EntryOf(s));
  }
  return response;
}

}  // namespace meridian::records
