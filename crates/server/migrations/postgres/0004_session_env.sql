-- Schema version 4 (PostgreSQL): a session's environment (its phantom
-- tokens and base URLs), sealed with the master key so get and list can
-- return it as agentjail does; and an index separating the phantom proxy's
-- audit rows from control-plane actions.

ALTER TABLE sessions ADD COLUMN env_nonce BYTEA;
ALTER TABLE sessions ADD COLUMN env_sealed BYTEA;
CREATE INDEX audit_action ON audit ((action IS NULL), tenant_id, id);
