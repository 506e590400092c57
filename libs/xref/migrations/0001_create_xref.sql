-- The service's copy of the identity cross-reference (organisation + local
-- patient ID -> regional ID), fed by patient-index events. `as_of` is the time
-- of the event that set the row: an older event arriving late changes nothing.
CREATE TABLE xref (
  organisation_id text COLLATE "C" NOT NULL,
  local_id text COLLATE "C" NOT NULL,
  regional_id uuid NOT NULL,
  as_of timestamptz NOT NULL,
  PRIMARY KEY (organisation_id, local_id)
);
CREATE INDEX xref_by_regional_id ON xref (regional_id);
