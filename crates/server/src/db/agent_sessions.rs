//! Agent sessions and their turns: the durable markers (streaming,
//! completed, interrupted) and results of each turn.

use super::{Db, DbResult};

/// One agent session.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AgentSessionRow {
    pub workspace_id: String,
    pub session_id: String,
    pub tenant_id: String,
    pub agent: String,
    pub server_id: String,
    pub acp_session_id: String,
    pub cwd: String,
    pub mode: Option<String>,
    pub permissions: String,
    pub generation: i64,
    pub created_at: i64,
}

/// One turn.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AgentTurnRow {
    pub workspace_id: String,
    pub session_id: String,
    pub turn_id: String,
    pub seq: i64,
    pub status: String,
    pub prompt: String,
    pub text: String,
    pub tool_calls: String,
    pub stop_reason: Option<String>,
    pub interrupt_reason: Option<String>,
    pub usage: Option<String>,
    pub server_id: String,
    pub first_event: i64,
    pub last_event: Option<i64>,
    pub started_at: i64,
    pub completed_at: Option<i64>,
    pub interrupted_at: Option<i64>,
}

const SESSION_COLUMNS: &str = "workspace_id, session_id, tenant_id, agent, server_id, acp_session_id, cwd, mode, \
     permissions, generation, created_at";
const TURN_COLUMNS: &str = "workspace_id, session_id, turn_id, seq, status, prompt, text, tool_calls, stop_reason, \
     interrupt_reason, usage, server_id, first_event, last_event, started_at, completed_at, interrupted_at";

impl Db {
    /// Stores a new session; false when its id is taken in the workspace.
    pub async fn insert_agent_session(&self, row: &AgentSessionRow) -> DbResult<bool> {
        let done = sqlx::query(&format!(
            "INSERT INTO agent_sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (workspace_id, session_id) DO NOTHING"
        ))
        .bind(&row.workspace_id)
        .bind(&row.session_id)
        .bind(&row.tenant_id)
        .bind(&row.agent)
        .bind(&row.server_id)
        .bind(&row.acp_session_id)
        .bind(&row.cwd)
        .bind(&row.mode)
        .bind(&row.permissions)
        .bind(row.generation)
        .bind(row.created_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// One session of a workspace.
    pub async fn agent_session(&self, workspace: &str, session: &str) -> DbResult<Option<AgentSessionRow>> {
        Ok(sqlx::query_as::<_, AgentSessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM agent_sessions WHERE workspace_id = $1 AND session_id = $2"
        ))
        .bind(workspace)
        .bind(session)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A workspace's sessions, oldest first.
    pub async fn agent_sessions(&self, workspace: &str) -> DbResult<Vec<AgentSessionRow>> {
        Ok(sqlx::query_as::<_, AgentSessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM agent_sessions WHERE workspace_id = $1 ORDER BY created_at, session_id"
        ))
        .bind(workspace)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Points a session at its agent's new ACP server and session.
    pub async fn set_agent_session_server(
        &self,
        workspace: &str,
        session: &str,
        server: &str,
        acp_session: &str,
        generation: i64,
    ) -> DbResult<()> {
        sqlx::query(
            "UPDATE agent_sessions SET server_id = $1, acp_session_id = $2, generation = $3 \
             WHERE workspace_id = $4 AND session_id = $5",
        )
        .bind(server)
        .bind(acp_session)
        .bind(generation)
        .bind(workspace)
        .bind(session)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes a session and its turns; false when there was none.
    pub async fn delete_agent_session(&self, workspace: &str, session: &str) -> DbResult<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM agent_turns WHERE workspace_id = $1 AND session_id = $2")
            .bind(workspace)
            .bind(session)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM agent_sessions WHERE workspace_id = $1 AND session_id = $2")
            .bind(workspace)
            .bind(session)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Stores a new turn (status `streaming`) after the session's last;
    /// false when the session already has a turn with its id.
    pub async fn insert_agent_turn(&self, row: &AgentTurnRow) -> DbResult<bool> {
        let done = sqlx::query(&format!(
            "INSERT INTO agent_turns ({TURN_COLUMNS}) \
             SELECT $1, $2, $3, COALESCE(MAX(seq), 0) + 1, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16 \
             FROM agent_turns WHERE workspace_id = $1 AND session_id = $2 \
             ON CONFLICT (workspace_id, session_id, turn_id) DO NOTHING"
        ))
        .bind(&row.workspace_id)
        .bind(&row.session_id)
        .bind(&row.turn_id)
        .bind(&row.status)
        .bind(&row.prompt)
        .bind(&row.text)
        .bind(&row.tool_calls)
        .bind(&row.stop_reason)
        .bind(&row.interrupt_reason)
        .bind(&row.usage)
        .bind(&row.server_id)
        .bind(row.first_event)
        .bind(row.last_event)
        .bind(row.started_at)
        .bind(row.completed_at)
        .bind(row.interrupted_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records how a streaming turn ended (a turn that already ended stays
    /// as it was).
    pub async fn finish_agent_turn(&self, row: &AgentTurnRow) -> DbResult<()> {
        sqlx::query(
            "UPDATE agent_turns SET status = $1, text = $2, tool_calls = $3, stop_reason = $4, interrupt_reason = $5, \
             usage = $6, last_event = $7, completed_at = $8, interrupted_at = $9 \
             WHERE workspace_id = $10 AND session_id = $11 AND turn_id = $12 AND status = 'streaming'",
        )
        .bind(&row.status)
        .bind(&row.text)
        .bind(&row.tool_calls)
        .bind(&row.stop_reason)
        .bind(&row.interrupt_reason)
        .bind(&row.usage)
        .bind(row.last_event)
        .bind(row.completed_at)
        .bind(row.interrupted_at)
        .bind(&row.workspace_id)
        .bind(&row.session_id)
        .bind(&row.turn_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One turn of a session.
    pub async fn agent_turn(&self, workspace: &str, session: &str, turn: &str) -> DbResult<Option<AgentTurnRow>> {
        Ok(sqlx::query_as::<_, AgentTurnRow>(&format!(
            "SELECT {TURN_COLUMNS} FROM agent_turns WHERE workspace_id = $1 AND session_id = $2 AND turn_id = $3"
        ))
        .bind(workspace)
        .bind(session)
        .bind(turn)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A session's turns in order.
    pub async fn agent_turns(&self, workspace: &str, session: &str) -> DbResult<Vec<AgentTurnRow>> {
        Ok(sqlx::query_as::<_, AgentTurnRow>(&format!(
            "SELECT {TURN_COLUMNS} FROM agent_turns WHERE workspace_id = $1 AND session_id = $2 ORDER BY seq"
        ))
        .bind(workspace)
        .bind(session)
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many turns a session has had.
    pub async fn agent_turn_count(&self, workspace: &str, session: &str) -> DbResult<i64> {
        use sqlx::Row;
        let row = sqlx::query("SELECT COUNT(*) AS n FROM agent_turns WHERE workspace_id = $1 AND session_id = $2")
            .bind(workspace)
            .bind(session)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Marks every turn still streaming as interrupted (at a start: no
    /// agent process outlives the server that ran it); how many.
    pub async fn interrupt_streaming_turns(&self, reason: &str, at: i64) -> DbResult<u64> {
        let done = sqlx::query(
            "UPDATE agent_turns SET status = 'interrupted', interrupt_reason = $1, interrupted_at = $2 \
             WHERE status = 'streaming'",
        )
        .bind(reason)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Removes every agent session and turn of a deleted workspace.
    pub async fn delete_workspace_agent_sessions(&self, workspace: &str) -> DbResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM agent_turns WHERE workspace_id = $1")
            .bind(workspace)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM agent_sessions WHERE workspace_id = $1")
            .bind(workspace)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
