-- Prescriptions: one row per prescription, keyed by its regional ID and
-- unique on (issuing institution, local ID). `body` is the serialized
-- meridian.prescriptions.v1.Prescription (the truth: items, dispensings,
-- state); the other columns are what reads filter on, rewritten from it by
-- every change. Patients are the institution's own local IDs, resolved to
-- regional IDs through the xref table (libs/xref). Identifiers compare
-- bytewise (COLLATE "C"): they are opaque, and linguistic collation costs
-- every index probe.
CREATE TABLE prescription (
  prescription_id uuid PRIMARY KEY,
  organisation_id text COLLATE "C" NOT NULL,   -- the issuing institution
  local_id text COLLATE "C" NOT NULL,          -- its ID there
  patient_local_id text COLLATE "C" NOT NULL,  -- the patient's ID there
  status smallint NOT NULL,                    -- v1.PrescriptionStatus
  issued_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  active_until timestamptz NOT NULL,           -- when the longest therapy ends
  verification_code text NOT NULL,
  request_hash text NOT NULL,                  -- fingerprint of the issuing request
  body bytea NOT NULL,
  version bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organisation_id, local_id)
);
-- A patient's prescriptions, newest first.
CREATE INDEX prescription_by_patient
  ON prescription (organisation_id, patient_local_id, issued_at DESC);
-- What the expiry sweep looks for: ISSUED, VERIFIED, PARTIALLY_DISPENSED.
CREATE INDEX prescription_to_expire
  ON prescription (expires_at) WHERE status IN (1, 2, 3);
