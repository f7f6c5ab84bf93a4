-- Schema version 9: coding agents' ACP servers and their transcripts.
-- Every JSON-RPC envelope between a client and an agent is kept with a
-- monotonic index per server, so a client replays from a cursor after a
-- reconnect or a server restart.

CREATE TABLE acp_servers (
    workspace_id   TEXT NOT NULL,
    server_id      TEXT NOT NULL,
    tenant_id      TEXT NOT NULL,
    agent          TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    -- When its agent process ended (NULL while it runs).
    exited_at      BIGINT,
    -- When a client deleted it: its agent is ended and it is no longer
    -- listed, but its transcript stays readable until the id is reused.
    deleted_at     BIGINT,
    -- The phantom session whose tokens its agent holds (closed when the
    -- agent ends, or at the next start if paddock stopped first).
    phantom_session TEXT,
    PRIMARY KEY (workspace_id, server_id)
);

CREATE TABLE acp_events (
    workspace_id   TEXT NOT NULL,
    server_id      TEXT NOT NULL,
    event_index    BIGINT NOT NULL,
    -- 1 = outbound (client to agent), 0 = inbound (agent to client).
    outbound       BIGINT NOT NULL,
    envelope       TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, server_id, event_index)
);
