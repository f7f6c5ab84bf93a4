-- Schema version 10: agent sessions (paddock's layer over an agent's ACP
-- session) and their turns, each with a status marker that outlives the
-- agent and the server: streaming, completed, or interrupted with a reason.

CREATE TABLE agent_sessions (
    workspace_id   TEXT NOT NULL,
    session_id     TEXT NOT NULL,
    tenant_id      TEXT NOT NULL,
    agent          TEXT NOT NULL,
    -- The ACP server its agent runs as now (a new one after a restart).
    server_id      TEXT NOT NULL,
    -- The agent's own session id.
    acp_session_id TEXT NOT NULL,
    cwd            TEXT NOT NULL,
    mode           TEXT,
    -- ask, allow or reject.
    permissions    TEXT NOT NULL,
    -- How many agent processes it has had (names its servers).
    generation     BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, session_id)
);

CREATE TABLE agent_turns (
    workspace_id     TEXT NOT NULL,
    session_id       TEXT NOT NULL,
    turn_id          TEXT NOT NULL,
    -- Order within the session.
    seq              BIGINT NOT NULL,
    -- streaming, completed or interrupted.
    status           TEXT NOT NULL,
    -- The prompt's ACP content blocks (JSON).
    prompt           TEXT NOT NULL,
    text             TEXT NOT NULL,
    -- JSON array of the turn's tool calls.
    tool_calls       TEXT NOT NULL,
    stop_reason      TEXT,
    interrupt_reason TEXT,
    usage            TEXT,
    server_id        TEXT NOT NULL,
    first_event      BIGINT NOT NULL,
    last_event       BIGINT,
    started_at       BIGINT NOT NULL,
    completed_at     BIGINT,
    interrupted_at   BIGINT,
    PRIMARY KEY (workspace_id, session_id, turn_id)
);

CREATE INDEX agent_turns_by_seq ON agent_turns (workspace_id, session_id, seq);
