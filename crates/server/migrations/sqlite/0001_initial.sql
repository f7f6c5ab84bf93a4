-- paddock control plane, schema version 1 (SQLite). Kept identical in
-- meaning to migrations/postgres/0001_initial.sql. Times are Unix
-- milliseconds (UTC).

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'operator')),
    token_hash  TEXT NOT NULL UNIQUE,
    label       TEXT,
    source      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE credentials (
    tenant_id   TEXT NOT NULL,
    service     TEXT NOT NULL,
    nonce       BLOB NOT NULL,
    ciphertext  BLOB NOT NULL,
    fingerprint TEXT NOT NULL,
    added_at    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, service)
);

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    closed_at   BIGINT,
    services    TEXT NOT NULL,
    scopes      TEXT NOT NULL
);
CREATE INDEX sessions_tenant ON sessions (tenant_id, created_at);

CREATE TABLE phantom_tokens (
    token_hash  TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions (id),
    tenant_id   TEXT NOT NULL,
    service     TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX phantom_tokens_session ON phantom_tokens (session_id);

CREATE TABLE jails (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id            TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    started_at           BIGINT NOT NULL,
    ended_at             BIGINT,
    status               TEXT NOT NULL,
    session_id           TEXT,
    label                TEXT,
    exit_code            BIGINT,
    duration_ms          DOUBLE PRECISION,
    timed_out            BIGINT NOT NULL DEFAULT 0,
    oom_killed           BIGINT NOT NULL DEFAULT 0,
    memory_peak_bytes    BIGINT,
    memory_current_bytes BIGINT,
    cpu_usage_usec       BIGINT,
    io_read_bytes        BIGINT,
    io_write_bytes       BIGINT,
    pids_current         BIGINT,
    stdout               TEXT NOT NULL DEFAULT '',
    stderr               TEXT NOT NULL DEFAULT '',
    error                TEXT,
    parent_id            BIGINT,
    config               TEXT NOT NULL
);
CREATE INDEX jails_tenant ON jails (tenant_id, id);

CREATE TABLE audit (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            BIGINT NOT NULL,
    tenant_id     TEXT NOT NULL,
    actor         TEXT,
    action        TEXT,
    target        TEXT,
    session_id    TEXT,
    service       TEXT,
    method        TEXT,
    path          TEXT,
    status        BIGINT,
    reject_reason TEXT,
    upstream_ms   DOUBLE PRECISION
);
CREATE INDEX audit_tenant ON audit (tenant_id, id);
