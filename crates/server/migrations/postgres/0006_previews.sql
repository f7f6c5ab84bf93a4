-- Schema version 6: previews, ports served inside a running workspace
-- exposed through the server (host-based and path-based). Rows survive
-- restarts; a private preview's secret is stored hashed (BLAKE3, hex).

CREATE TABLE previews (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    workspace_id  TEXT NOT NULL,
    port          BIGINT NOT NULL,
    public        BIGINT NOT NULL DEFAULT 0,
    hostname      TEXT,
    secret_hash   TEXT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX previews_workspace ON previews (workspace_id, port);
-- A workspace domain (agentjail's `domains`) is served by one workspace at
-- a time.
CREATE UNIQUE INDEX previews_active_hostname ON previews (hostname)
    WHERE hostname IS NOT NULL AND revoked_at IS NULL;
