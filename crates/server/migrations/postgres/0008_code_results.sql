-- Schema version 8: code kernels' idempotency. The first successful result
-- of a `runCode` call with an idempotency key, per workspace and session,
-- kept 15 minutes (so a retry after a server restart still gets it).

CREATE TABLE code_results (
    tenant_id       TEXT NOT NULL,
    workspace_id    TEXT NOT NULL,
    session_key     TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    result          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, session_key, idempotency_key)
);
CREATE INDEX code_results_created ON code_results (created_at);
