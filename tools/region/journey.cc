#include "tools/region/journey.h"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "libs/timestamps/timestamps.h"
#include "services/consent/policy.h"
#include "services/patient-index/resident_id.h"

namespace meridian::region {
namespace {

namespace cv1 = ::meridian::consent::v1;
namespace lv1 = ::meridian::labs::v1;
namespace ov1 = ::meridian::organisations::v1;
namespace pv1 = ::meridian::patient::v1;
namespace rv1 = ::meridian::records::v1;
namespace xv1 = ::meridian::prescriptions::v1;

// ---- Deterministic randomness (no implementation-defined distributions) ----

uint64_t Mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t Fnv1a(absl::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

int Uniform(std::mt19937_64& rng, int n) { return static_cast<int>(rng() % n); }
double Unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }
bool Chance(std::mt19937_64& rng, double p) { return Unit(rng) < p; }

double Normal(std::mt19937_64& rng, double mean, double sd) {
  const double u1 = std::max(Unit(rng), 1e-12), u2 = Unit(rng);
  return mean + sd * std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
}

template <typename T>
const T& Pick(std::mt19937_64& rng, const std::vector<T>& v) {
  return v[Uniform(rng, static_cast<int>(v.size()))];
}

absl::Duration Between(std::mt19937_64& rng, absl::Duration min, absl::Duration max) {
  const int64_t lo = absl::ToInt64Seconds(min), hi = absl::ToInt64Seconds(max);
  return absl::Seconds(lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1)));
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

google::protobuf::Timestamp Ts(absl::Time t) { return timestamps::ToProto(t); }

// ---- People (tools/gen/gen_patients.py's model) ----

std::vector<std::string> Chars(absl::string_view utf8) {
  std::vector<std::string> out;
  for (size_t i = 0; i < utf8.size();) {
    const unsigned char c = utf8[i];
    const size_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    out.emplace_back(utf8.substr(i, n));
    i += n;
  }
  return out;
}

struct Names {
  std::vector<std::string> surnames;
  std::vector<double> surname_cdf;  // the first surnames are far more common
  std::vector<std::string> given;
  absl::flat_hash_map<std::string, std::vector<std::string>> homophones;
  std::vector<std::string> streets;
};

const Names& NameTables() {
  static const Names* names = [] {
    auto* n = new Names;
    n->surnames = Chars(
        "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
        "肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏"
        "韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤");
    double total = 0;
    for (size_t i = 0; i < n->surnames.size(); ++i) {
      total += std::max(1.0, 30.0 / static_cast<double>(i + 1));
      n->surname_cdf.push_back(total);
    }
    for (double& c : n->surname_cdf) c /= total;
    n->given = Chars(
        "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英玉兰萍毅浩"
        "宇轩子涵欣怡梓晨佳琪雨萱俊博文瑞思琳嘉豪晓彤志鹏建华海燕红梅慧"
        "婷雪颖晶鑫宏斌辉春玲丹凤");
    for (absl::string_view group :
         {"丽莉俐", "伟玮韦", "张章", "陈晨", "林琳霖", "静晶靖", "明鸣铭", "华桦", "娟鹃",
          "芳方", "军君", "平萍苹", "刚钢", "红虹宏洪", "英瑛莹", "敏闽", "杰洁捷", "磊蕾",
          "强蔷", "涛韬", "燕艳雁", "鹏朋", "辉晖", "玲铃", "婷亭", "欣馨", "瑞睿", "浩皓",
          "宇雨"}) {
      const std::vector<std::string> chars = Chars(group);
      for (const std::string& c : chars) {
        for (const std::string& other : chars) {
          if (other != c) n->homophones[c].push_back(other);
        }
      }
    }
    n->streets = {"幸福路", "人民路", "解放路", "建设路", "文一路",   "庆春路", "延安路",
                  "凤起路", "天目山路", "中山北路", "河畔街", "山景路", "学院路"};
    return n;
  }();
  return *names;
}

const std::vector<std::string>& Districts() {
  static const auto* d = new std::vector<std::string>{
      "330102", "330105", "330106", "330108", "330109",
      "330110", "330111", "330112", "330122", "330127"};
  return *d;
}

std::string Digits(std::mt19937_64& rng, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>('0' + Uniform(rng, 10)));
  return s;
}

std::string ResidentId(std::mt19937_64& rng, const std::string& district,
                       const std::string& birth, bool male) {
  const int seq = Uniform(rng, 500) * 2 + (male ? 1 : 0);
  std::string first17 = absl::StrFormat("%s%s%03d", district, birth, seq);
  return first17 + patient::ResidentIdCheckChar(first17);
}

Person NewPerson(std::mt19937_64& rng, bool male, int age, absl::Time now) {
  const Names& names = NameTables();
  Person p;
  p.male = male;
  const absl::CivilDay today = absl::ToCivilDay(now, absl::UTCTimeZone());
  const int month = 1 + Uniform(rng, 12), day = 1 + Uniform(rng, 28);
  int64_t year = today.year() - age;
  if (absl::CivilDay(year, month, day) > today) --year;
  p.birth_date = absl::StrFormat("%04d%02d%02d", year, month, day);
  p.district_code = Pick(rng, Districts());
  const double u = Unit(rng);
  const auto it = std::lower_bound(names.surname_cdf.begin(), names.surname_cdf.end(), u);
  p.family_name = names.surnames[std::min<size_t>(it - names.surname_cdf.begin(),
                                                  names.surnames.size() - 1)];
  const int given_chars = Uniform(rng, 4) == 0 ? 1 : 2;
  for (int i = 0; i < given_chars; ++i) p.given_name += Pick(rng, names.given);
  p.phone = absl::StrCat("1", std::string(1, "3589"[Uniform(rng, 4)]), Digits(rng, 9));
  p.address_line = absl::StrCat(Pick(rng, names.streets), 1 + Uniform(rng, 399), "号",
                                101 + Uniform(rng, 2399), "室");
  // Children rarely carry a resident ID at registration.
  const bool child = age < 16;
  if (!(child && Chance(rng, 0.8))) {
    p.resident_id = ResidentId(rng, p.district_code, p.birth_date, male);
  }
  if (!Chance(rng, 0.3)) p.insurance_no = absl::StrCat("YB", Digits(rng, 10));
  return p;
}

// ---- Clinical reference data (illustrative, not clinical advice) ----

struct Regimen {
  const char* drug = nullptr;  // formulary code (services/prescriptions/data/drugs.tsv)
  double dose = 0;
  const char* unit = "mg";
  xv1::Frequency frequency = xv1::QD;
  int prn_max = 0;
  xv1::Route route = xv1::ORAL;
  int days = 0;
  int64_t quantity = 0;  // dispense units
};

struct Analyte {
  const char* loinc;
  const char* name;
  const char* unit;
  double mean, sd;            // usual
  double sick_mean, sick_sd;  // with the condition the test was ordered for
  double min, max;
  int decimals;
  const char* alt_unit;  // conventional unit some laboratories report in
  double alt_factor;     // value in alt_unit = value * alt_factor
};

struct Panel {
  const char* loinc;  // "" when the order is not a coded panel
  const char* name;
  const char* specimen;
  std::vector<Analyte> analytes;
};

const Analyte kGlucose{"2345-7", "Glucose", "mmol/L", 5.4, 0.7, 9.5, 2.5, 2.5, 30, 1, "mg/dL",
                       18.016};
const Analyte kCreatinine{"2160-0", "Creatinine", "umol/L", 76, 15, 95, 25, 30, 600, 0,
                          "mg/dL", 1 / 88.42};

const std::vector<Panel>& Panels() {
  static const auto* panels = new std::vector<Panel>{
      {"51990-0", "Basic metabolic panel", "serum",
       {kGlucose,
        kCreatinine,
        {"3094-0", "Urea nitrogen", "mmol/L", 5.2, 1.3, 6.6, 2.0, 1.5, 30, 1, nullptr, 0},
        {"2951-2", "Sodium", "mmol/L", 140, 2.5, 139, 3, 125, 155, 0, nullptr, 0},
        {"2823-3", "Potassium", "mmol/L", 4.2, 0.35, 4.4, 0.5, 2.9, 6.5, 1, nullptr, 0}}},
      {"", "Diabetes monitoring", "whole blood",
       {{"1558-6", "Fasting glucose", "mmol/L", 5.0, 0.5, 8.2, 2.0, 3.0, 25, 1, "mg/dL", 18.016},
        {"4548-4", "Hemoglobin A1c", "%", 5.4, 0.3, 7.6, 1.1, 4.0, 14, 1, nullptr, 0}}},
      {"57698-3", "Lipid panel", "serum",
       {{"2093-3", "Cholesterol", "mmol/L", 4.8, 0.8, 6.4, 0.9, 2.5, 11, 2, "mg/dL", 38.67},
        {"2085-9", "HDL cholesterol", "mmol/L", 1.35, 0.3, 1.1, 0.25, 0.5, 3, 2, nullptr, 0},
        {"13457-7", "LDL cholesterol", "mmol/L", 2.8, 0.7, 4.2, 0.8, 0.8, 8, 2, nullptr, 0},
        {"2571-8", "Triglyceride", "mmol/L", 1.4, 0.5, 2.6, 0.9, 0.4, 9, 2, "mg/dL", 88.57}}},
      {"", "Complete blood count and CRP", "whole blood",
       {{"6690-2", "Leukocytes", "10*9/L", 6.5, 1.5, 12.0, 3.0, 2.0, 30, 1, nullptr, 0},
        {"718-7", "Hemoglobin", "g/L", 138, 13, 132, 15, 80, 185, 0, nullptr, 0},
        {"777-3", "Platelets", "10*9/L", 240, 50, 280, 70, 60, 600, 0, nullptr, 0},
        {"1988-5", "C reactive protein", "mg/L", 2.5, 1.5, 30, 18, 0.2, 150, 1, nullptr, 0}}},
      {"24325-3", "Hepatic function panel", "serum",
       {{"1742-6", "ALT", "U/L", 24, 9, 45, 20, 5, 300, 0, nullptr, 0},
        {"1920-8", "AST", "U/L", 23, 7, 38, 15, 6, 250, 0, nullptr, 0},
        {"1751-7", "Albumin", "g/L", 43, 3, 40, 4, 25, 55, 0, nullptr, 0},
        {"1975-2", "Bilirubin total", "umol/L", 12, 4, 16, 6, 3, 80, 1, nullptr, 0}}},
      {"", "Thyroid function", "serum",
       {{"3016-3", "TSH", "mIU/L", 2.1, 0.8, 8.5, 3.0, 0.1, 40, 2, nullptr, 0},
        {"3024-7", "Free T4", "pmol/L", 15, 2.2, 9.5, 2.0, 3, 40, 1, nullptr, 0}}},
      {"", "Urate and creatinine", "serum",
       {{"3084-1", "Urate", "umol/L", 330, 60, 520, 80, 120, 900, 0, nullptr, 0}, kCreatinine}},
  };
  return *panels;
}

enum PanelId { kMetabolic, kDiabetes, kLipids, kBloodCount, kLiver, kThyroid, kUrate, kNoPanel };

}  // namespace

struct PatientJourney::Condition {
  const char* icd10;
  const char* description;
  const char* department;
  bool chronic;
  int min_age, max_age;
  double weight;
  Regimen adult;
  Regimen child;  // under 12 (drug nullptr: none prescribed)
  PanelId panel;
  const char* referral_reason;
};

namespace {

using Condition = PatientJourney::Condition;

const std::vector<Condition>& Conditions() {
  using X = xv1::Frequency;
  static const auto* c = new std::vector<Condition>{
      {"I10", "Essential (primary) hypertension", "Cardiology", true, 30, 120, 6,
       {"C08CA01-T5", 5, "mg", X::QD, 0, xv1::ORAL, 30, 30}, {}, kMetabolic,
       "Hypertension not controlled on one drug: specialist assessment"},
      {"E11.9", "Type 2 diabetes mellitus without complications", "Endocrinology", true, 30,
       120, 4, {"A10BA02-T500", 500, "mg", X::BID, 0, xv1::ORAL, 30, 60}, {}, kDiabetes,
       "HbA1c above target: review of diabetes treatment"},
      {"E78.5", "Hyperlipidaemia, unspecified", "Cardiology", true, 35, 120, 3,
       {"C10AA05-T20", 20, "mg", X::QN, 0, xv1::ORAL, 30, 30}, {}, kLipids,
       "Lipids above target on a statin"},
      {"I25.1", "Atherosclerotic heart disease", "Cardiology", true, 45, 120, 2,
       {"B01AC06-T100", 100, "mg", X::QD, 0, xv1::ORAL, 30, 30}, {}, kLipids,
       "Exertional chest pain: cardiology work-up"},
      {"K21.9", "Gastro-oesophageal reflux disease", "Gastroenterology", true, 18, 120, 2,
       {"A02BC01-C20", 20, "mg", X::QD, 0, xv1::ORAL, 28, 28}, {}, kLiver,
       "Persistent reflux symptoms: endoscopy"},
      {"M10.9", "Gout, unspecified", "Rheumatology", true, 30, 120, 1.5,
       {"M04AA01-T100", 100, "mg", X::QD, 0, xv1::ORAL, 30, 30}, {}, kUrate,
       "Recurrent gout attacks"},
      {"E03.9", "Hypothyroidism, unspecified", "Endocrinology", true, 20, 120, 1.5,
       {"H03AA01-T50", 50, "ug", X::QD, 0, xv1::ORAL, 30, 30}, {}, kThyroid,
       "Thyroid function abnormal on treatment"},
      {"F32.9", "Depressive episode, unspecified", "Psychiatry", true, 16, 120, 1.5,
       {"N06AB06-T50", 50, "mg", X::QD, 0, xv1::ORAL, 30, 30}, {}, kThyroid,
       "Depressive episode: psychiatric assessment"},
      {"J45.9", "Asthma, unspecified", "Respiratory", true, 3, 120, 2,
       {"R03AC02-H100", 100, "ug", X::PRN, 4, xv1::INHALED, 30, 1},
       {"R03AC02-H100", 100, "ug", X::PRN, 4, xv1::INHALED, 30, 1}, kBloodCount,
       "Asthma poorly controlled: lung function tests"},
      {"J06.9", "Acute upper respiratory infection", "General Practice", false, 0, 120, 6,
       {"R06AX13-T10", 10, "mg", X::QD, 0, xv1::ORAL, 5, 5},
       {"R05CB06-S3", 5, "mL", X::TID, 0, xv1::ORAL, 5, 1}, kBloodCount,
       "Persistent fever: further investigation"},
      {"J20.9", "Acute bronchitis, unspecified", "Respiratory", false, 0, 120, 4,
       {"J01CA04-C500", 500, "mg", X::TID, 0, xv1::ORAL, 7, 21},
       {"J01CA04-C500", 250, "mg", X::TID, 0, xv1::ORAL, 5, 8}, kBloodCount,
       "Suspected pneumonia: chest imaging"},
      {"N39.0", "Urinary tract infection, site not specified", "Urology", false, 16, 120, 2,
       {"J01XE01-T50", 50, "mg", X::QID, 0, xv1::ORAL, 5, 20}, {}, kBloodCount,
       "Recurrent urinary tract infection"},
      {"M54.5", "Low back pain", "Orthopaedics", false, 18, 120, 3,
       {"M01AE01-C300SR", 300, "mg", X::BID, 0, xv1::ORAL, 7, 14}, {}, kNoPanel,
       "Back pain with leg weakness: imaging"},
      {"K29.7", "Gastritis, unspecified", "Gastroenterology", false, 16, 120, 2,
       {"A02BA03-T20", 20, "mg", X::BID, 0, xv1::ORAL, 14, 28}, {}, kLiver,
       "Epigastric pain not settling: endoscopy"},
  };
  return *c;
}

}  // namespace

// ---- Kinds ----

absl::string_view KindName(StepKind kind) {
  switch (kind) {
    case StepKind::kRegister: return "register";
    case StepKind::kRegisterDuplicate: return "register_duplicate";
    case StepKind::kVisit: return "visit";
    case StepKind::kReferral: return "referral";
    case StepKind::kReferralStatus: return "referral_status";
    case StepKind::kPrescribe: return "prescribe";
    case StepKind::kLookup: return "lookup_prescription";
    case StepKind::kDispense: return "dispense";
    case StepKind::kLabReport: return "lab_report";
    case StepKind::kLabReuse: return "lab_reuse";
    case StepKind::kConsentGrant: return "consent_grant";
    case StepKind::kConsentRefuse: return "consent_refuse";
    case StepKind::kConsentRevoke: return "consent_revoke";
    case StepKind::kRecordRead: return "record_read";
  }
  return "unknown";
}

absl::string_view RpcName(StepKind kind) {
  switch (kind) {
    case StepKind::kRegister:
    case StepKind::kRegisterDuplicate: return "PatientIndex.RegisterPatient";
    case StepKind::kVisit: return "Records.PushEncounter";
    case StepKind::kReferral: return "Records.PushReferral";
    case StepKind::kReferralStatus: return "Records.UpdateReferralStatus";
    case StepKind::kPrescribe: return "Prescriptions.IssuePrescription";
    case StepKind::kLookup: return "Prescriptions.LookupPrescription";
    case StepKind::kDispense: return "Prescriptions.DispensePrescription";
    case StepKind::kLabReport: return "LabResults.PushReport";
    case StepKind::kLabReuse: return "LabResults.FindReusableResults";
    case StepKind::kConsentGrant:
    case StepKind::kConsentRefuse: return "Consent.Grant";
    case StepKind::kConsentRevoke: return "Consent.Revoke";
    case StepKind::kRecordRead: return "Records.GetPatientRecord";
  }
  return "unknown";
}

// ---- Region ----

absl::StatusOr<Region> Region::FromDirectory(const orgs::Directory& directory) {
  std::vector<const orgs::Organisation*> all = directory.All();
  std::sort(all.begin(), all.end(),
            [](const auto* a, const auto* b) { return a->id() < b->id(); });
  Region r;
  for (const orgs::Organisation* o : all) {
    r.type[o->id()] = o->type();
    r.accredited[o->id()] = o->lab_accredited();
    switch (o->type()) {
      case ov1::TOWNSHIP_HEALTH_CENTRE: r.township.push_back(o->id()); break;
      case ov1::SECONDARY_HOSPITAL: r.secondary.push_back(o->id()); break;
      case ov1::TERTIARY_HOSPITAL: r.tertiary.push_back(o->id()); break;
      case ov1::PHARMACY: r.pharmacies.push_back(o->id()); break;
      case ov1::LAB: r.labs.push_back(o->id()); break;
      case ov1::PATIENT_PORTAL:
        if (r.portal.empty()) r.portal = o->id();
        break;
      default: break;
    }
  }
  if (r.township.size() + r.secondary.size() + r.tertiary.size() < 2) {
    return absl::FailedPreconditionError(
        "the directory needs at least two hospitals or township health centres");
  }
  if (r.pharmacies.empty()) {
    return absl::FailedPreconditionError("the directory has no pharmacy");
  }
  return r;
}

bool Region::IsAccredited(const std::string& org) const {
  auto it = accredited.find(org);
  return it != accredited.end() && it->second;
}

std::vector<std::string> Region::Actors() const {
  std::vector<std::string> out;
  for (const auto* v : {&township, &secondary, &tertiary, &pharmacies, &labs}) {
    out.insert(out.end(), v->begin(), v->end());
  }
  if (!portal.empty()) out.push_back(portal);
  return out;
}

// ---- Consent policy: the consent service's own ----

bool RecordsPermitted(const Region& region, const std::string& org,
                      const std::vector<cv1::Directive>& directives, absl::Time now) {
  auto type = region.type.find(org);
  return consent::Decide(directives, consent::RegionalDefaults{},
                         {.accessor_organisation = org,
                          .accessor_type = type == region.type.end()
                                               ? ov1::ORGANISATION_TYPE_UNSPECIFIED
                                               : type->second,
                          .category = cv1::RECORDS,
                          .purpose = cv1::TREATMENT,
                          .now = now})
      .permitted();
}

// ---- People ----

pv1::RegisterPatientRequest Person::AsRequest(const std::string& local_id) const {
  pv1::RegisterPatientRequest r;
  r.set_local_id(local_id);
  pv1::Demographics* d = r.mutable_demographics();
  d->set_family_name(family_name);
  d->set_given_name(given_name);
  d->set_sex(male ? pv1::SEX_MALE : pv1::SEX_FEMALE);
  if (birth_date.size() == 8) {
    d->set_birth_date(absl::StrCat(birth_date.substr(0, 4), "-", birth_date.substr(4, 2), "-",
                                   birth_date.substr(6, 2)));
  }
  d->set_phone(phone);
  d->mutable_address()->set_line(address_line);
  d->mutable_address()->set_district_code(district_code);
  if (!resident_id.empty()) {
    pv1::Identifier* id = r.add_identifiers();
    id->set_type(pv1::RESIDENT_ID);
    id->set_value(resident_id);
  }
  if (!insurance_no.empty()) {
    pv1::Identifier* id = r.add_identifiers();
    id->set_type(pv1::MEDICAL_INSURANCE);
    id->set_value(insurance_no);
  }
  return r;
}

Person WithTypos(const Person& person, std::mt19937_64& rng, absl::Time now) {
  const std::string today = absl::FormatTime("%Y%m%d", now, absl::UTCTimeZone());
  enum Error { kHomophone, kSwap, kPhone, kMoved, kNickname, kNoId, kNoPhone, kNoInsurance };
  std::vector<Error> errors = {kHomophone, kSwap,     kPhone,  kMoved,
                               kNickname,  kNoId, kNoPhone, kNoInsurance};
  static constexpr int kHowMany[] = {1, 1, 2, 2, 3};
  const int k = kHowMany[Uniform(rng, 5)];
  for (int i = 0; i < k; ++i) {  // a partial shuffle: k distinct errors
    std::swap(errors[i], errors[i + Uniform(rng, static_cast<int>(errors.size()) - i)]);
  }
  const Names& names = NameTables();
  Person q = person;
  for (int i = 0; i < k; ++i) {
    switch (errors[i]) {
      case kHomophone: {
        std::vector<std::string> chars = Chars(q.given_name);
        std::vector<int> spots;
        for (int j = 0; j < static_cast<int>(chars.size()); ++j) {
          if (names.homophones.contains(chars[j])) spots.push_back(j);
        }
        if (!spots.empty()) {
          const int j = Pick(rng, spots);
          chars[j] = Pick(rng, names.homophones.at(chars[j]));
          q.given_name = absl::StrJoin(chars, "");
        }
        break;
      }
      case kSwap:
        if (q.birth_date.size() == 8 && std::stoi(q.birth_date.substr(6, 2)) <= 12) {
          std::string swapped = absl::StrCat(q.birth_date.substr(0, 4), q.birth_date.substr(6, 2),
                                             q.birth_date.substr(4, 2));
          if (swapped > today) break;  // a baby born this year: not in the future
          q.birth_date = std::move(swapped);
          q.resident_id.clear();  // a registry would refuse an ID contradicting the date
        }
        break;
      case kPhone:
        if (q.phone.size() == 11) {
          const int j = 3 + Uniform(rng, 8);
          q.phone[j] = static_cast<char>('0' + (q.phone[j] - '0' + 1) % 10);
        }
        break;
      case kMoved:
        q.address_line = absl::StrCat(Pick(rng, names.streets), 1 + Uniform(rng, 399), "号");
        q.district_code = Pick(rng, Districts());
        break;
      case kNickname:
        if (Chars(q.given_name).size() == 1) {
          q.given_name = absl::StrCat(Uniform(rng, 2) == 0 ? "小" : "阿", q.given_name);
        }
        break;
      case kNoId: q.resident_id.clear(); break;
      case kNoPhone: q.phone.clear(); break;
      case kNoInsurance: q.insurance_no.clear(); break;
    }
  }
  return q;
}

// ---- A patient's journey ----

PatientJourney::PatientJourney(const Region* region, const Options* options, int patient)
    : region_(region),
      options_(options),
      patient_(patient),
      rng_(Mix(Mix(options->seed) ^ static_cast<uint64_t>(patient))),
      person_rng_(Mix(Mix(options->seed ^ Fnv1a(options->run)) + static_cast<uint64_t>(patient))) {
  // Ages: children, working age, older people with more chronic disease.
  const double a = Unit(rng_);
  age_ = a < 0.15 ? Uniform(rng_, 18)
         : a < 0.45 ? 18 + Uniform(rng_, 27)
         : a < 0.75 ? 45 + Uniform(rng_, 20)
                    : 65 + Uniform(rng_, 30);
  const bool male = Chance(rng_, 0.5);
  // One or two conditions the person lives with or presents with.
  const int n = Chance(rng_, 0.4) ? 2 : 1;
  for (int i = 0; i < n; ++i) {
    double total = 0;
    for (const Condition& c : Conditions()) {
      if (age_ >= c.min_age && age_ <= c.max_age) total += c.weight;
    }
    double u = Unit(rng_) * total;
    for (const Condition& c : Conditions()) {
      if (age_ < c.min_age || age_ > c.max_age) continue;
      u -= c.weight;
      if (u <= 0) {
        if (std::find(conditions_.begin(), conditions_.end(), &c) == conditions_.end()) {
          conditions_.push_back(&c);
        }
        break;
      }
    }
  }
  if (conditions_.empty()) {  // nothing fits the age: a common cold
    for (const Condition& c : Conditions()) {
      if (std::string_view(c.icd10) == "J06.9") conditions_.push_back(&c);
    }
  }
  duplicate_pending_ = Chance(rng_, options->duplicate_rate);
  person_ = NewPerson(person_rng_, male, age_, options->now);
  const absl::Time now = absl::FromUnixSeconds(absl::ToUnixSeconds(options->now));
  limit_ = now - absl::Minutes(1);
  clock_ = now - Between(rng_, absl::Hours(24 * 3), absl::Hours(24 * 26));
}

Step& PatientJourney::Add(std::vector<Step>& out, StepKind kind, const std::string& org) {
  Step& s = out.emplace_back();
  s.patient = patient_;
  s.seq = seq_++;
  s.kind = kind;
  s.org = org;
  return s;
}

std::string PatientJourney::Id(absl::string_view prefix, int seq) const {
  return absl::StrCat(options_->run, "-", prefix, patient_, ".", seq);
}

std::string PatientJourney::LocalId(const std::string& org) const {
  std::string tag;
  for (absl::string_view part : absl::StrSplit(org, '-')) {
    if (!part.empty()) tag.push_back(absl::ascii_toupper(part[0]));
  }
  return absl::StrCat(options_->run, "-", tag, "-", patient_);
}

absl::Time PatientJourney::Advance(absl::Duration min, absl::Duration max) {
  clock_ = std::min(clock_ + Between(rng_, min, max), limit_);
  return clock_;
}

const Condition& PatientJourney::PickCondition() {
  // Now and then something new and acute; mostly what the person has.
  if (Chance(rng_, 0.2)) {
    std::vector<const Condition*> acute;
    for (const Condition& c : Conditions()) {
      if (!c.chronic && age_ >= c.min_age && age_ <= c.max_age) acute.push_back(&c);
    }
    if (!acute.empty()) return *Pick(rng_, acute);
  }
  return *Pick(rng_, conditions_);
}

std::string PatientJourney::HigherTier(const std::string& from) {
  const auto type = region_->type.at(from);
  auto eligible = [&](const std::vector<std::string>& v) {
    std::vector<std::string> out;
    for (const std::string& o : v) {
      if (o != from && !Contains(copies_, o)) out.push_back(o);
    }
    return out;
  };
  const std::vector<std::string> secondary = eligible(region_->secondary);
  const std::vector<std::string> tertiary = eligible(region_->tertiary);
  if (type == ov1::TOWNSHIP_HEALTH_CENTRE) {
    if (!secondary.empty() && (tertiary.empty() || Chance(rng_, 0.65))) {
      return Pick(rng_, secondary);
    }
    if (!tertiary.empty()) return Pick(rng_, tertiary);
  } else if (type == ov1::SECONDARY_HOSPITAL && !tertiary.empty()) {
    return Pick(rng_, tertiary);
  }
  return "";
}

std::vector<std::string> PatientJourney::Readers() const {
  std::vector<std::string> out;
  for (const std::string& org : registered_) {
    if (!SharedFor(org).empty()) out.push_back(org);
  }
  return out;
}

std::vector<std::string> PatientJourney::SharedFor(const std::string& reader) const {
  std::vector<std::string> out;
  for (const std::string& org : visited_) {
    if (org != reader) out.push_back(org);
  }
  return out;
}

bool PatientJourney::Permitted(const std::string& reader) const {
  std::vector<cv1::Directive> active;
  for (const Directive& d : directives_) {
    if (d.active) active.push_back(d.directive);
  }
  return RecordsPermitted(*region_, reader, active, clock_);
}

void PatientJourney::Register(std::vector<Step>& out, const std::string& org) {
  Step& s = Add(out, StepKind::kRegister, org);
  s.request = person_.AsRequest(LocalId(org));
  registered_.push_back(org);
}

std::string PatientJourney::Visit(std::vector<Step>& out, const std::string& org,
                                  const Condition& c, rv1::EncounterClass encounter_class) {
  Step& s = Add(out, StepKind::kVisit, org);
  rv1::Encounter e;
  e.set_local_id(Id("E", s.seq));
  e.set_patient_local_id(LocalId(org));
  e.set_encounter_class(encounter_class);
  const absl::Time start = clock_;
  const absl::Duration stay = encounter_class == rv1::INPATIENT
                                  ? Between(rng_, absl::Hours(24 * 2), absl::Hours(24 * 6))
                                  : Between(rng_, absl::Minutes(10), absl::Minutes(50));
  clock_ = std::min(start + stay, limit_);
  *e.mutable_start_time() = Ts(start);
  *e.mutable_end_time() = Ts(clock_);
  const bool township = region_->type.at(org) == ov1::TOWNSHIP_HEALTH_CENTRE;
  e.set_department(township ? "General Practice" : c.department);
  e.set_attending_clinician(absl::StrCat("DR-", 100 + Uniform(rng_, 900)));
  rv1::Diagnosis* d = e.add_diagnoses();
  d->set_icd10_code(c.icd10);
  d->set_description(c.description);
  d->set_primary(true);
  for (const Condition* other : conditions_) {  // what else the person lives with
    if (other != &c && other->chronic && Chance(rng_, 0.5)) {
      rv1::Diagnosis* more = e.add_diagnoses();
      more->set_icd10_code(other->icd10);
      more->set_description(other->description);
    }
  }
  const std::string id = e.local_id();
  s.request = std::move(e);
  if (Contains(registered_, org) && !Contains(visited_, org)) visited_.push_back(org);
  return id;
}

void PatientJourney::Prescribe(std::vector<Step>& out, const std::string& org,
                               const Condition& c, const std::string& encounter) {
  const Regimen& r = age_ < 12 ? c.child : c.adult;
  if (r.drug == nullptr) return;
  Step& s = Add(out, StepKind::kPrescribe, org);
  const int seq = s.seq;
  xv1::IssuePrescriptionRequest req;
  xv1::Prescription* p = req.mutable_prescription();
  p->set_local_id(Id("RX", seq));
  p->set_patient_local_id(LocalId(org));
  p->set_prescriber(absl::StrCat("DR-", 100 + Uniform(rng_, 900)));
  p->set_department(region_->type.at(org) == ov1::TOWNSHIP_HEALTH_CENTRE ? "General Practice"
                                                                         : c.department);
  p->set_encounter_local_id(encounter);
  p->add_diagnosis_icd10(c.icd10);
  *p->mutable_issued_at() = Ts(clock_);
  p->set_validity_days(30);
  xv1::PrescriptionItem* item = p->add_items();
  item->set_drug_code(r.drug);
  item->set_dose(r.dose);
  item->set_dose_unit(r.unit);
  item->set_frequency(r.frequency);
  item->set_prn_max_doses_per_day(r.prn_max);
  item->set_route(r.route);
  item->set_days(r.days);
  item->set_quantity(r.quantity);
  const xv1::Prescription issued = *p;
  s.request = std::move(req);
  if (Chance(rng_, 0.85)) Dispense(out, seq, issued);
}

void PatientJourney::Dispense(std::vector<Step>& out, int prescription_seq,
                              const xv1::Prescription& p) {
  const int64_t quantity = p.items(0).quantity();
  // Most prescriptions are dispensed in one visit; some in two, the second
  // maybe at another pharmacy.
  std::vector<int64_t> parts = {quantity};
  if (quantity >= 2 && Chance(rng_, 0.2)) parts = {quantity / 2, quantity - quantity / 2};
  for (int64_t part : parts) {
    const std::string pharmacy = Pick(rng_, region_->pharmacies);
    Advance(absl::Minutes(10), absl::Hours(30));
    Step& lookup = Add(out, StepKind::kLookup, pharmacy);
    lookup.ref = prescription_seq;
    lookup.request = xv1::LookupPrescriptionRequest();
    Step& s = Add(out, StepKind::kDispense, pharmacy);
    s.ref = prescription_seq;
    xv1::DispensePrescriptionRequest d;
    d.set_local_id(Id("DS", s.seq));
    d.set_pharmacist(absl::StrCat("PH-", 10 + Uniform(rng_, 90)));
    xv1::DispensedItem* item = d.add_items();
    item->set_item_index(0);
    item->set_quantity(part);
    item->set_batch_number(absl::StrCat("B", 240000 + Uniform(rng_, 9999)));
    *d.mutable_dispensed_at() = Ts(clock_);
    s.request = std::move(d);
  }
}

void PatientJourney::LabTest(std::vector<Step>& out, const std::string& org,
                             const Condition& c) {
  if (c.panel == kNoPanel) return;
  const Panel& panel = Panels()[c.panel];
  // An accredited hospital runs its own laboratory; the others send the
  // sample to the regional laboratory.
  std::string performer = org;
  if (!region_->IsAccredited(org) && !region_->labs.empty()) {
    performer = Pick(rng_, region_->labs);
  }
  Step& s = Add(out, StepKind::kLabReport, performer);
  lv1::LabReport r;
  r.set_local_id(Id("LR", s.seq));
  r.set_patient_organisation_id(org);
  r.set_patient_local_id(LocalId(org));
  r.set_patient_sex(person_.male ? lv1::MALE : lv1::FEMALE);
  const std::string& b = person_.birth_date;
  r.set_patient_birth_date(absl::StrCat(b.substr(0, 4), "-", b.substr(4, 2), "-", b.substr(6, 2)));
  r.set_ordering_organisation_id(org);
  r.set_ordering_clinician(absl::StrCat("DR-", 100 + Uniform(rng_, 900)));
  const absl::Time ordered = clock_;
  *r.mutable_ordered_at() = Ts(ordered);
  if (*panel.loinc != '\0') r.set_panel_loinc_code(panel.loinc);
  r.set_panel_name(panel.name);
  const absl::Time collected = Advance(absl::Minutes(5), absl::Minutes(60));
  const absl::Time reported = Advance(absl::Minutes(30), absl::Hours(6));
  const bool sick = Chance(rng_, 0.7);  // the reason for the test shows
  const bool conventional = Chance(rng_, 0.2);
  Report kept{s.seq, performer, {}};
  for (const Analyte& a : panel.analytes) {
    double v = sick ? Normal(rng_, a.sick_mean, a.sick_sd) : Normal(rng_, a.mean, a.sd);
    v = std::clamp(v, a.min, a.max);
    std::string unit = a.unit;
    int decimals = a.decimals;
    if (conventional && a.alt_unit != nullptr) {
      v *= a.alt_factor;
      unit = a.alt_unit;
      decimals = a.alt_factor < 1 ? 2 : std::max(0, decimals - 1);
    }
    const double scale = std::pow(10.0, decimals);
    lv1::LabResult* res = r.add_results();
    res->set_loinc_code(a.loinc);
    res->set_name(a.name);
    res->set_numeric(std::round(v * scale) / scale);
    res->set_unit(unit);
    res->set_status(lv1::FINAL);
    res->set_specimen(panel.specimen);
    *res->mutable_collected_at() = Ts(collected);
    *res->mutable_reported_at() = Ts(reported);
    kept.loinc_codes.push_back(a.loinc);
  }
  s.request = std::move(r);
  reports_.push_back(std::move(kept));
}

void PatientJourney::Reuse(std::vector<Step>& out, const std::string& org) {
  // The newest result from an accredited laboratory elsewhere.
  const Report* found = nullptr;
  for (const Report& r : reports_) {
    if (r.performer != org && region_->IsAccredited(r.performer)) found = &r;
  }
  if (found == nullptr) return;
  Step& s = Add(out, StepKind::kLabReuse, org);
  s.ref = found->seq;
  lv1::FindReusableResultsRequest q;
  for (size_t i = 0; i < found->loinc_codes.size() && i < 3; ++i) {
    q.add_loinc_codes(found->loinc_codes[i]);
  }
  // Sometimes a test nobody did: it is to be done.
  if (Chance(rng_, 0.5) && !Contains(found->loinc_codes, "4548-4")) q.add_loinc_codes("4548-4");
  q.set_max_age_hours(24 * 60);
  s.request = std::move(q);
}

void PatientJourney::Read(std::vector<Step>& out, const std::string& reader) {
  std::vector<std::string> shared = SharedFor(reader);
  if (shared.empty() || !Contains(registered_, reader)) return;
  Step& s = Add(out, StepKind::kRecordRead, reader);
  s.shared_by = std::move(shared);
  s.expect = Permitted(reader) ? Expect::kOk : Expect::kWithheld;
  rv1::GetPatientRecordRequest q;
  q.add_categories(rv1::ENCOUNTERS);
  q.add_categories(rv1::REFERRALS);
  q.set_purpose(cv1::TREATMENT);
  s.request = std::move(q);
}

void PatientJourney::Grant(std::vector<Step>& out, cv1::Effect effect, const std::string& to,
                           const std::string& recorded_by) {
  Step& s =
      Add(out, effect == cv1::DENY ? StepKind::kConsentRefuse : StepKind::kConsentGrant,
          recorded_by);
  cv1::GrantRequest g;
  cv1::Directive* d = g.mutable_directive();
  d->set_effect(effect);
  d->add_categories(cv1::RECORDS);
  if (to.empty()) {
    d->mutable_recipients()->set_everyone(true);
  } else {
    d->mutable_recipients()->mutable_organisations()->add_ids(to);
  }
  if (recorded_by != region_->portal) d->set_form_reference(Id("FORM", s.seq));
  g.set_request_key(Id("CG", s.seq));
  directives_.push_back({s.seq, *d, recorded_by, true});
  s.request = std::move(g);
}

// ---- Episodes ----

std::vector<Step> PatientJourney::Intake() {
  std::vector<Step> out;
  // First contact: mostly the township health centre, else a hospital.
  const double u = Unit(rng_);
  if (!region_->township.empty() && u < 0.6) {
    home_ = Pick(rng_, region_->township);
  } else if (!region_->secondary.empty() && (u < 0.85 || region_->tertiary.empty())) {
    home_ = Pick(rng_, region_->secondary);
  } else if (!region_->tertiary.empty()) {
    home_ = Pick(rng_, region_->tertiary);
  } else {
    home_ = Pick(rng_, region_->township);
  }
  Register(out, home_);
  const Condition& c = PickCondition();
  Advance(absl::Minutes(5), absl::Minutes(40));
  const std::string encounter = Visit(out, home_, c, rv1::OUTPATIENT);
  if (Chance(rng_, 0.6)) Prescribe(out, home_, c, encounter);
  // Some people also attend a second institution (carrying their ID card).
  if (Chance(rng_, 0.35)) {
    std::vector<std::string> others;
    for (const auto* v : {&region_->township, &region_->secondary, &region_->tertiary}) {
      for (const std::string& o : *v) {
        if (o != home_) others.push_back(o);
      }
    }
    const std::string second = Pick(rng_, others);
    Advance(absl::Hours(6), absl::Hours(24 * 4));
    Register(out, second);
    const Condition& c2 = PickCondition();
    Advance(absl::Minutes(5), absl::Minutes(40));
    const std::string e2 = Visit(out, second, c2, rv1::OUTPATIENT);
    if (Chance(rng_, 0.5)) Prescribe(out, second, c2, e2);
  }
  return out;
}

void PatientJourney::PrimaryCare(std::vector<Step>& out) {
  const std::string org = Chance(rng_, 0.7) ? home_ : Pick(rng_, registered_);
  const Condition& c = PickCondition();
  Advance(absl::Hours(24), absl::Hours(24 * 7));
  const std::string encounter =
      Visit(out, org, c, Chance(rng_, 0.05) ? rv1::EMERGENCY : rv1::OUTPATIENT);
  if (Chance(rng_, 0.3)) Reuse(out, org);
  if (Chance(rng_, 0.4)) LabTest(out, org, c);
  if (Chance(rng_, 0.75)) Prescribe(out, org, c, encounter);
  if (Chance(rng_, 0.15)) Read(out, org);
}

bool PatientJourney::Referral(std::vector<Step>& out) {
  std::string from = home_;
  std::string to = HigherTier(from);
  if (to.empty()) {
    // A city hospital's patient goes back to a centre near home.
    std::vector<std::string> centres;
    for (const std::string& o : region_->township) {
      if (!Contains(copies_, o)) centres.push_back(o);
    }
    if (centres.empty()) return false;
    to = Pick(rng_, centres);
  }
  const Condition& c = PickCondition();
  Advance(absl::Hours(24), absl::Hours(24 * 5));
  const std::string encounter = Visit(out, from, c, rv1::OUTPATIENT);
  if (Chance(rng_, 0.5)) LabTest(out, from, c);

  Step& up = Add(out, StepKind::kReferral, from);
  rv1::Referral r;
  r.set_local_id(Id("RF", up.seq));
  r.set_patient_local_id(LocalId(from));
  r.set_to_organisation_id(to);
  r.set_reason(c.referral_reason);
  r.set_icd10_code(c.icd10);
  *r.mutable_requested_at() = Ts(clock_);
  r.set_encounter_local_id(encounter);
  const std::string referral = r.local_id();
  up.request = std::move(r);

  auto status = [&](const std::string& by, const std::string& referrer, const std::string& id,
                    rv1::ReferralStatus st, absl::string_view note) {
    Step& s = Add(out, StepKind::kReferralStatus, by);
    rv1::UpdateReferralStatusRequest u;
    u.set_from_organisation_id(referrer);
    u.set_local_id(id);
    u.set_status(st);
    u.set_note(std::string(note));
    s.request = std::move(u);
  };
  Advance(absl::Hours(2), absl::Hours(48));
  if (!Contains(registered_, to)) Register(out, to);
  status(to, from, referral, rv1::ACCEPTED, "Appointment booked");
  Read(out, to);  // the receiving clinician looks at the regional record
  Reuse(out, to);
  const std::string seen = Visit(out, to, c, Chance(rng_, 0.25) ? rv1::INPATIENT : rv1::OUTPATIENT);
  if (Chance(rng_, 0.4)) LabTest(out, to, c);
  if (Chance(rng_, 0.6)) Prescribe(out, to, c, seen);
  Advance(absl::Minutes(30), absl::Hours(24));
  status(to, from, referral, rv1::COMPLETED, "Seen; plan sent back");

  if (Chance(rng_, 0.75)) {  // and back for follow-up near home
    Step& down = Add(out, StepKind::kReferral, to);
    rv1::Referral back;
    back.set_local_id(Id("RF", down.seq));
    back.set_patient_local_id(LocalId(to));
    back.set_to_organisation_id(from);
    back.set_reason("Stable: continue management and follow-up near home");
    back.set_icd10_code(c.icd10);
    *back.mutable_requested_at() = Ts(clock_);
    back.set_encounter_local_id(seen);
    const std::string back_id = back.local_id();
    down.request = std::move(back);
    Advance(absl::Hours(24), absl::Hours(24 * 4));
    status(from, to, back_id, rv1::ACCEPTED, "Follow-up booked");
    Visit(out, from, c, rv1::OUTPATIENT);
    status(from, to, back_id, rv1::COMPLETED, "Followed up");
  }
  ++referrals_;
  return true;
}

void PatientJourney::Duplicate(std::vector<Step>& out) {
  std::vector<std::string> candidates;
  for (const auto* v : {&region_->township, &region_->secondary, &region_->tertiary,
                        &region_->pharmacies, &region_->labs}) {
    for (const std::string& o : *v) {
      if (!Contains(registered_, o) && !Contains(copies_, o)) candidates.push_back(o);
    }
  }
  const int copies = Chance(rng_, 0.7) ? 1 : 2;
  for (int i = 0; i < copies && !candidates.empty(); ++i) {
    const int k = Uniform(rng_, static_cast<int>(candidates.size()));
    const std::string org = candidates[k];
    candidates.erase(candidates.begin() + k);
    Advance(absl::Hours(2), absl::Hours(24 * 3));
    Step& s = Add(out, StepKind::kRegisterDuplicate, org);
    s.request = WithTypos(person_, person_rng_, options_->now).AsRequest(LocalId(org));
    copies_.push_back(org);
    const auto type = region_->type.at(org);
    if (type != ov1::PHARMACY && type != ov1::LAB && Chance(rng_, 0.5)) {
      Visit(out, org, PickCondition(), rv1::OUTPATIENT);  // a walk-in visit there
    }
  }
}

bool PatientJourney::Consent(std::vector<Step>& out) {
  const std::vector<std::string> readers = Readers();
  if (readers.empty()) return false;
  Advance(absl::Hours(6), absl::Hours(24 * 4));
  // Who records it: the patient through the portal, or a hospital that
  // registered them, on their behalf with the signed form.
  auto recorder = [&]() -> std::string {
    if (!region_->portal.empty() && Chance(rng_, 0.7)) return region_->portal;
    return Pick(rng_, registered_);
  };
  std::vector<int> active;
  bool refuses_everyone = false;
  for (int i = 0; i < static_cast<int>(directives_.size()); ++i) {
    if (!directives_[i].active) continue;
    active.push_back(i);
    const cv1::Directive& d = directives_[i].directive;
    refuses_everyone |= d.effect() == cv1::DENY && d.recipients().everyone();
  }
  if (!active.empty() && Chance(rng_, 0.5)) {
    // A change of mind: the portal or the institution that recorded it
    // revokes the directive; most often the exception made to a refusal.
    std::vector<int> exceptions;
    for (int i : active) {
      const cv1::Directive& d = directives_[i].directive;
      if (d.effect() == cv1::PERMIT && d.recipients().has_organisations()) exceptions.push_back(i);
    }
    Directive& d = directives_[refuses_everyone && !exceptions.empty() && Chance(rng_, 0.7)
                                   ? Pick(rng_, exceptions)
                                   : Pick(rng_, active)];
    const std::string by =
        !region_->portal.empty() && Chance(rng_, 0.5) ? region_->portal : d.recorded_by;
    Step& s = Add(out, StepKind::kConsentRevoke, by);
    s.ref = d.seq;
    cv1::RevokeRequest r;
    r.set_reason("The patient changed their mind");
    s.request = std::move(r);
    d.active = false;
    const auto& named = d.directive.recipients().organisations().ids();
    const std::string reader =
        !named.empty() && Contains(readers, named[0]) ? named[0] : Pick(rng_, readers);
    Advance(absl::Hours(1), absl::Hours(24 * 2));
    Read(out, reader);
    return true;
  }
  const std::string reader = Pick(rng_, readers);
  std::string other;  // another institution that may want to read
  for (const std::string& r : readers) {
    if (r != reader && (other.empty() || Chance(rng_, 0.5))) other = r;
  }
  const double u = Unit(rng_);
  if (refuses_everyone && u < 0.6) {
    // Sharing refused in general, now allowed for the hospital treating them.
    Grant(out, cv1::PERMIT, reader, Chance(rng_, 0.5) ? reader : recorder());
  } else if (u < 0.3) {
    Grant(out, cv1::DENY, "", recorder());  // no sharing of records at all
  } else if (u < 0.6) {
    // No sharing, except with the institution treating them.
    Grant(out, cv1::DENY, "", recorder());
    Grant(out, cv1::PERMIT, reader, Chance(rng_, 0.5) ? reader : recorder());
  } else if (u < 0.75) {
    // Not with one institution.
    Grant(out, cv1::DENY, reader, region_->portal.empty() ? recorder() : region_->portal);
  } else {
    Grant(out, cv1::PERMIT, reader, Chance(rng_, 0.5) ? reader : recorder());
  }
  Advance(absl::Hours(1), absl::Hours(24 * 2));
  Read(out, reader);
  if (!other.empty() && Chance(rng_, 0.5)) Read(out, other);
  return true;
}

std::vector<Step> PatientJourney::NextEpisode(absl::Time now) {
  std::vector<Step> out;
  limit_ = std::max(limit_, absl::FromUnixSeconds(absl::ToUnixSeconds(now)) - absl::Minutes(1));
  if (duplicate_pending_ && (Chance(rng_, 0.5) || seq_ > 12)) {
    duplicate_pending_ = false;
    Duplicate(out);
    if (!out.empty()) return out;
  }
  const bool can_refer = referrals_ < 2;
  const bool can_consent = !Readers().empty();
  // Someone who has already stated a wish about sharing comes back to it
  // more often.
  const double consent = !can_consent ? 0 : directives_.empty() ? 2.5 : 4;
  const double total = 4 + (can_refer ? 3 : 0) + consent + (can_consent ? 0.7 : 0);
  double u = Unit(rng_) * total;
  if ((u -= 4) < 0) {
    PrimaryCare(out);
  } else if (can_refer && (u -= 3) < 0) {
    if (!Referral(out)) PrimaryCare(out);
  } else if (can_consent && (u -= consent) < 0) {
    Consent(out);
  } else {
    const std::vector<std::string> readers = Readers();
    if (readers.empty()) {
      PrimaryCare(out);
    } else {
      Advance(absl::Hours(12), absl::Hours(24 * 3));
      Read(out, Pick(rng_, readers));
    }
  }
  return out;
}

std::vector<std::vector<Step>> Population(const Region& region, const Options& options) {
  std::vector<std::vector<Step>> all;
  all.reserve(options.patients);
  for (int p = 0; p < options.patients; ++p) {
    PatientJourney journey(&region, &options, p);
    std::vector<Step> steps = journey.Intake();
    const int episodes = 2 + static_cast<int>(Mix(options.seed * 31 + p) % 4);
    for (int e = 0; e < episodes; ++e) {
      std::vector<Step> more = journey.NextEpisode(options.now);
      for (Step& s : more) steps.push_back(std::move(s));
    }
    all.push_back(std::move(steps));
  }
  return all;
}

}  // namespace meridian::region
