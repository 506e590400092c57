-- Regional identities and the source records (one per institution + local
-- ID) linked to them. Match fields are stored normalised so candidates can
-- be scored without re-deriving them.
CREATE TABLE identity (
  regional_id uuid PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE source_record (
  id bigserial PRIMARY KEY,
  organisation_id text NOT NULL,
  local_id text NOT NULL,
  regional_id uuid NOT NULL REFERENCES identity (regional_id),
  request bytea NOT NULL,        -- meridian.patient.v1.RegisterPatientRequest
  response bytea NOT NULL,       -- meridian.patient.v1.RegisterPatientResponse
  request_hash text NOT NULL,
  family text NOT NULL DEFAULT '',
  given text NOT NULL DEFAULT '',
  family_pinyin text NOT NULL DEFAULT '',
  given_pinyin text NOT NULL DEFAULT '',
  sex text NOT NULL DEFAULT '',
  birth_date text NOT NULL DEFAULT '',
  phone text NOT NULL DEFAULT '',
  street_number text NOT NULL DEFAULT '',
  address text NOT NULL DEFAULT '',
  locality text NOT NULL DEFAULT '',
  postcode text NOT NULL DEFAULT '',
  region text NOT NULL DEFAULT '',
  resident_id text NOT NULL DEFAULT '',
  other_id text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organisation_id, local_id)
);
CREATE INDEX source_record_regional ON source_record (regional_id);

-- Blocking: every key of every record; candidates are looked up by key,
-- newest first, with a cap per key.
CREATE TABLE blocking_key (
  key text NOT NULL,
  record_id bigint NOT NULL REFERENCES source_record (id) ON DELETE CASCADE,
  PRIMARY KEY (key, record_id)
);
CREATE INDEX blocking_key_record ON blocking_key (record_id);

CREATE TABLE review_task (
  id uuid PRIMARY KEY,
  record_id bigint NOT NULL REFERENCES source_record (id),
  candidate_record_id bigint NOT NULL REFERENCES source_record (id),
  probability double precision NOT NULL,
  status text NOT NULL DEFAULT 'open',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX review_task_open ON review_task (created_at) WHERE status = 'open';
