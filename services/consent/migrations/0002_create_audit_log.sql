-- The tamper-evident access log (audit_chain.h): append-only, one row per
-- access event, each carrying the hash of the row before it; checkpoints
-- sign the head with the audit key. The service never updates or deletes.
CREATE TABLE audit_log (
  seq bigint PRIMARY KEY,
  event_id uuid NOT NULL UNIQUE,
  occurred_at timestamptz NOT NULL,
  occurred_micros bigint NOT NULL,
  regional_id uuid NOT NULL,
  accessor_organisation text COLLATE "C" NOT NULL,
  entry bytea NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL
);
CREATE INDEX audit_log_by_patient ON audit_log (regional_id, seq DESC);

CREATE TABLE audit_checkpoint (
  seq bigint PRIMARY KEY,
  hash text NOT NULL,
  key_id text NOT NULL,
  signature bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
