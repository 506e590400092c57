#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus (synthetic values only,
plus a few official HL7 FHIR R4 examples). Re-run after changing it:
python3 tests/fuzz/make_seeds.py [FHIR_EXAMPLES_DIR]. The corpus also keeps
inputs that once broke a target (named after the defect); this script
neither writes nor removes those."""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
FHIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "data",
                                                         "fhir-examples")


def check_char(first17):
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


def rid(region, birth, seq):
    first = f"{region}{birth}{seq:03d}"
    return first + check_char(first)


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def encode(message, text):
    return subprocess.run(
        ["protoc", f"--encode={message}", "-I", os.path.join(ROOT, "proto"),
         "-I", "/usr/include",
         "meridian/patient/v1/patient_index.proto", "meridian/records/v1/records.proto"],
        input=text.encode(), capture_output=True, check=True).stdout


valid = rid("110105", "19491231", 2)
write("resident_id_fuzz", "valid", valid)
write("resident_id_fuzz", "valid_x", next(rid("330106", "19880317", s) for s in range(1000)
                                         if rid("330106", "19880317", s).endswith("X")))
write("resident_id_fuzz", "legacy15", "110105491231002")
write("resident_id_fuzz", "bad_check", valid[:17] + ("0" if valid[17] != "0" else "1"))
write("resident_id_fuzz", "future", rid("110105", "20991231", 7))
write("resident_id_fuzz", "lower_x", valid[:17] + "x")
write("resident_id_fuzz", "fullwidth", "１１０１０５１９４９１２３１００２")

for i, s in enumerate(["张三", "張三豐", "ＺＨＡＮＧ　San", "  li   Ming ", "欧阳 娜娜",
                       "Zhāng Sān", "a\x01b\x7f", b"\xe5\xbc", b"\xff\xfe", "王\u3000小明"]):
    write("name_fuzz", f"seed{i}", s)  # bytes as they are (seed7, seed8: invalid UTF-8)
write("name_fuzz", "invalid_utf8", b"\xe5\xbc\xa0\xff\x80abc")

for i, s in enumerate(["2026-02-28", "2024-02-29", "2023-02-29", "2026-13-01", "0000-01-01",
                       "2026-12-05T10:00:00+08:00", "2026-12-05T10:00:00.123456Z", "2026",
                       "2026-12", "key-1\nkey-2"]):
    write("date_fuzz", f"seed{i}", s)

sep = "\0"
write("scrub_fuzz", "note", "张三\n李四" + sep +
      f"患者张三，电话13812345678，身份证{valid}，座机010-62345678。")
write("scrub_fuzz", "adjacent", "王五" + sep + f"{valid}13812345678王五")
write("scrub_fuzz", "long_digits", sep + "卡号 6222020200112233445566 +86 138-1234-5678")
write("scrub_fuzz", "plain", "no names or numbers here")


def copy_examples(target, names):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    for name in names:
        if os.path.exists(os.path.join(FHIR, name)):
            shutil.copyfile(os.path.join(FHIR, name), os.path.join(CORPUS, target, name))


copy_examples("fhir_import_fuzz", [
    "Patient-pat1.json", "Encounter-example.json", "Observation-example.json",
    "MedicationRequest-medrx002.json", "DiagnosticReport-f201.json",
    "Bundle-10bb101f-a121-4264-a920-67be9cb82c74.json", "Linkage-example.json"])
write("fhir_import_fuzz", "not_json", "{\"resourceType\": \"Patient\", ")
write("fhir_import_fuzz", "empty_bundle", '{"resourceType":"Bundle","type":"collection"}')

copy_examples("fhir_consent_fuzz", ["Consent-consent-example-basic.json",
                                     "Consent-consent-example-notOrg.json"])
write("fhir_consent_fuzz", "minimal", '{"resourceType":"Consent","status":"active"}')

register = f"""
local_id: "MRN-000123"
demographics {{ family_name: "张" given_name: "三丰" sex: SEX_MALE birth_date: "1949-12-31"
  phone: "13812345678" }}
identifiers {{ type: RESIDENT_ID value: "{valid}" }}
"""
try:
    write("request_fuzz", "register", b"\x00" + encode("meridian.patient.v1.RegisterPatientRequest",
                                                       register))
    write("request_fuzz", "encounter", b"\x01" + encode(
        "meridian.records.v1.Encounter",
        'local_id: "E-1" patient_local_id: "MRN-000123" diagnoses { icd10_code: "J18.9" }'))
    write("request_fuzz", "document", b"\x02" + encode(
        "meridian.records.v1.ClinicalDocument", 'local_id: "D-1" patient_local_id: "MRN-000123" title: "出院小结"'))
except subprocess.CalledProcessError as e:
    sys.exit(e.stderr.decode())
