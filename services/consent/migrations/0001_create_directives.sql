-- Consent directives: one row per directive; `body` is the serialized
-- meridian.consent.v1.Directive (the truth), the other columns what Check
-- and the lists filter on. Revoking sets revoked_at (and rewrites body);
-- nothing is ever deleted.
CREATE TABLE directive (
  directive_id uuid PRIMARY KEY,
  regional_id uuid NOT NULL,
  recorded_by text COLLATE "C" NOT NULL,
  request_key text COLLATE "C",
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  body bytea NOT NULL,
  UNIQUE (recorded_by, request_key)
);
CREATE INDEX directive_by_patient ON directive (regional_id, created_at);
