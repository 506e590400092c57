-- Lab reports as pushed by the performing institutions: one row per report
-- (institution, order's local ID) holding the current version. `body` is the
-- serialized meridian.labs.v1.LabReport and the truth; the other columns are
-- what reads filter on. Patients are an institution's own local IDs (the
-- performing one's, or the ordering one's for a regional laboratory),
-- resolved to regional IDs through the xref table (libs/xref), so merges and
-- unmerges never rewrite these rows. Identifiers compare bytewise (COLLATE
-- "C"): they are opaque, and linguistic collation costs every index probe.
CREATE TABLE lab_report (
  organisation_id text COLLATE "C" NOT NULL,          -- the performing institution
  local_id text COLLATE "C" NOT NULL,                 -- its order ID
  patient_organisation_id text COLLATE "C" NOT NULL,  -- where the patient is registered
  patient_local_id text COLLATE "C" NOT NULL,         -- the patient's ID there
  collected_at timestamptz NOT NULL,                  -- the earliest of its results
  loinc_codes text[] COLLATE "C" NOT NULL,            -- its results' codes, distinct
  body bytea NOT NULL,
  version bigint NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organisation_id, local_id)
);
-- A patient's reports, newest first.
CREATE INDEX lab_report_by_patient
  ON lab_report (patient_organisation_id, patient_local_id, collected_at DESC);
-- Reports carrying given codes (loinc_codes && ...).
CREATE INDEX lab_report_by_loinc ON lab_report USING gin (loinc_codes);

-- Superseded versions, moved here when a changed version replaces them.
CREATE TABLE lab_report_history (
  organisation_id text COLLATE "C" NOT NULL,
  local_id text COLLATE "C" NOT NULL,
  patient_organisation_id text COLLATE "C" NOT NULL,
  patient_local_id text COLLATE "C" NOT NULL,
  collected_at timestamptz NOT NULL,
  loinc_codes text[] COLLATE "C" NOT NULL,
  body bytea NOT NULL,
  version bigint NOT NULL,
  recorded_at timestamptz NOT NULL,
  superseded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organisation_id, local_id, version)
);
