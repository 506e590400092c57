-- Merges of regional identities, with what they moved, so they can be undone.
ALTER TABLE identity ADD COLUMN merged_into uuid REFERENCES identity (regional_id);

CREATE TABLE merge_history (
  id uuid PRIMARY KEY,
  from_regional_id uuid NOT NULL REFERENCES identity (regional_id),
  into_regional_id uuid NOT NULL REFERENCES identity (regional_id),
  record_ids bigint[] NOT NULL,
  merged_by text NOT NULL,
  reason text NOT NULL,
  merged_at timestamptz NOT NULL DEFAULT now(),
  unmerged_by text,
  unmerge_reason text,
  unmerged_at timestamptz
);
