-- Schema version 2 (SQLite): per-session request budgets of the phantom
-- proxy, and an index for its token lookups' session join.

ALTER TABLE sessions ADD COLUMN max_requests BIGINT;
ALTER TABLE sessions ADD COLUMN requests_used BIGINT NOT NULL DEFAULT 0;
CREATE INDEX audit_session ON audit (session_id, id);
