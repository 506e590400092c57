-- Every column of the audit log that queries use is covered by the hash:
-- regional_id and occurred_at enter it (audit_chain.h); the copies that
-- nothing needed (accessor_organisation, occurred_micros) go. Checkpoints
-- cannot be truncated through SQL either.
ALTER TABLE audit_log DROP COLUMN occurred_micros;
ALTER TABLE audit_log DROP COLUMN accessor_organisation;
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
