-- Schema version 4 (SQLite): a session's environment (its phantom tokens
-- and base URLs), sealed with the master key so get and list can return
-- it as agentjail does; and an index separating the phantom proxy's audit
-- rows from control-plane actions.

ALTER TABLE sessions ADD COLUMN env_nonce BLOB;
ALTER TABLE sessions ADD COLUMN env_sealed BLOB;
CREATE INDEX audit_action ON audit ((action IS NULL), tenant_id, id);
