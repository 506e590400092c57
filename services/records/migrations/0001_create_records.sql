-- Clinical records as pushed by institutions: one row per record (kind,
-- institution, local ID) holding the current version. `body` is the
-- serialized meridian.records.v1 message and the truth; the other columns are
-- what reads filter on. Patients are the institution's own local IDs,
-- resolved to regional IDs through the xref table (libs/xref), so merges and
-- unmerges never rewrite these rows. Identifiers compare bytewise (COLLATE
-- "C"): they are opaque, and linguistic collation costs every index probe.
CREATE TABLE record (
  kind smallint NOT NULL,            -- 1 encounter, 2 document, 3 referral
  organisation_id text COLLATE "C" NOT NULL,
  local_id text COLLATE "C" NOT NULL,
  patient_local_id text COLLATE "C" NOT NULL,
  clinical_time timestamptz NOT NULL,
  counterpart_organisation text COLLATE "C",     -- referrals: the receiving institution
  entered_in_error boolean NOT NULL,
  codes text[] NOT NULL,             -- ICD-10 codes carried
  body bytea NOT NULL,
  version bigint NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organisation_id, kind, local_id)
);
CREATE INDEX record_by_patient
  ON record (organisation_id, patient_local_id, clinical_time DESC);

-- Superseded versions, moved here when a changed version replaces them.
CREATE TABLE record_history (
  kind smallint NOT NULL,
  organisation_id text COLLATE "C" NOT NULL,
  local_id text COLLATE "C" NOT NULL,
  patient_local_id text COLLATE "C" NOT NULL,
  clinical_time timestamptz NOT NULL,
  counterpart_organisation text COLLATE "C",
  entered_in_error boolean NOT NULL,
  codes text[] NOT NULL,
  body bytea NOT NULL,
  version bigint NOT NULL,
  recorded_at timestamptz NOT NULL,
  superseded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organisation_id, kind, local_id, version)
);
