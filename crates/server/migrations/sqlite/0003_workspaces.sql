-- Schema version 3 (SQLite): workspaces (long-lived trees), their snapshots
-- (manifests of a content-addressed blob pool) and which blobs each
-- snapshot refers to (the live set of garbage collection).

CREATE TABLE workspaces (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    deleted_at    BIGINT,
    label         TEXT,
    spec          TEXT NOT NULL,
    git_repo      TEXT,
    git_ref       TEXT,
    last_exec_at  BIGINT,
    paused_at     BIGINT,
    auto_snapshot TEXT
);
CREATE INDEX workspaces_tenant ON workspaces (tenant_id, created_at);

CREATE TABLE snapshots (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    workspace_id  TEXT,
    name          TEXT,
    created_at    BIGINT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    file_count    BIGINT NOT NULL,
    frozen        BIGINT NOT NULL DEFAULT 0,
    auto          BIGINT NOT NULL DEFAULT 0,
    manifest      TEXT NOT NULL
);
CREATE INDEX snapshots_tenant ON snapshots (tenant_id, created_at);
CREATE INDEX snapshots_workspace ON snapshots (workspace_id, created_at);

CREATE TABLE snapshot_blobs (
    snapshot_id   TEXT NOT NULL,
    hash          TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, hash)
);
CREATE INDEX snapshot_blobs_hash ON snapshot_blobs (hash);
