-- Review resolution: who decided, why, when; and pairs kept apart for good.
ALTER TABLE review_task
  ADD COLUMN resolved_by text,
  ADD COLUMN reason text,
  ADD COLUMN resolved_at timestamptz;

CREATE TABLE kept_apart (
  record_a bigint NOT NULL REFERENCES source_record (id),
  record_b bigint NOT NULL REFERENCES source_record (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (record_a, record_b),
  CHECK (record_a < record_b)
);
CREATE INDEX kept_apart_b ON kept_apart (record_b);
