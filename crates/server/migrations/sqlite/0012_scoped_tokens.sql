-- Schema version 12: scoped tokens, short-lived bearer tokens bound to one
-- workspace and a set of capabilities (comma-separated, sorted), minted by
-- a tenant's API key. The token is stored hashed (BLAKE3, hex) like API
-- keys; rows are revoked or expire, and are never reused.

CREATE TABLE scoped_tokens (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    workspace_id  TEXT NOT NULL,
    capabilities  TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    label         TEXT,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX scoped_tokens_workspace ON scoped_tokens (workspace_id, created_at);
