//! The store against both real backends: SQLite files and a PostgreSQL
//! server (`PADDOCK_TEST_POSTGRES_URL`, which `scripts/test` provides after
//! installing and starting Debian's PostgreSQL).

use paddock_server::db::{
    now_ms, AuditRow, Backend, CredentialRow, Db, JailEnd, JailFilter, KeyRow, Scope, ScopedTokenRow, SessionRow,
    SnapshotRow, TokenRow, WorkspaceRow,
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A fresh PostgreSQL database for one test, dropped afterwards.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create() -> PgDatabase {
        use sqlx::Executor;
        let admin_url = std::env::var("PADDOCK_TEST_POSTGRES_URL").expect(
            "PADDOCK_TEST_POSTGRES_URL is not set: the PostgreSQL tests need a server \
             (bash scripts/test installs and starts one)",
        );
        let name = format!("paddock_t{}", &paddock_server::crypto::new_id("")[..16]);
        let admin = sqlx::PgPool::connect(&admin_url).await.expect("connect to PostgreSQL");
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create database");
        admin.close().await;
        let (base, _) = admin_url.rsplit_once('/').expect("URL with a database");
        PgDatabase {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        }
    }

    pub async fn drop_database(self) {
        use sqlx::Executor;
        let admin = sqlx::PgPool::connect(&self.admin_url).await.expect("connect");
        let _ = admin
            .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await;
        admin.close().await;
    }
}

fn key(id: &str, tenant: &str, hash: &str) -> KeyRow {
    KeyRow {
        id: id.into(),
        tenant_id: tenant.into(),
        role: "operator".into(),
        token_hash: hash.into(),
        label: Some("ci".into()),
        source: "api".into(),
        created_at: now_ms(),
        revoked_at: None,
    }
}

async fn exercise(store: &Db) {
    let t1 = Scope::Tenant("t1".into());
    let t2 = Scope::Tenant("t2".into());

    // Keys: lookup by hash, scoped revocation.
    store.insert_key(&key("key_a", "t1", "hash-a")).await.unwrap();
    store.insert_key(&key("key_b", "t2", "hash-b")).await.unwrap();
    assert!(
        store.insert_key(&key("key_c", "t1", "hash-a")).await.is_err(),
        "duplicate hash accepted"
    );
    assert_eq!(store.key_by_hash("hash-a").await.unwrap().unwrap().id, "key_a");
    assert!(store.key_by_hash("nope").await.unwrap().is_none());
    assert!(!store.revoke_key(&t2, "key_a").await.unwrap(), "revoked across tenants");
    assert!(store.revoke_key(&t1, "key_a").await.unwrap());
    assert!(!store.revoke_key(&t1, "key_a").await.unwrap());
    assert!(store.key_by_hash("hash-a").await.unwrap().unwrap().revoked_at.is_some());
    assert_eq!(store.active_key_count().await.unwrap(), 1);
    assert_eq!(store.list_keys(&Scope::All).await.unwrap().len(), 2);
    assert_eq!(store.list_keys(&t2).await.unwrap().len(), 1);

    // Scoped tokens: lookup by hash, listed per workspace and tenant,
    // revoked once and only in scope.
    let token = |id: &str, hash: &str, at: i64| ScopedTokenRow {
        id: id.into(),
        tenant_id: "t1".into(),
        workspace_id: "wrk_1".into(),
        capabilities: "files:read,mcp".into(),
        token_hash: hash.into(),
        label: None,
        created_by: "key_a".into(),
        created_at: at,
        expires_at: at + 60_000,
        revoked_at: None,
    };
    store.insert_scoped_token(&token("tok_a", "th-a", 1000)).await.unwrap();
    store.insert_scoped_token(&token("tok_b", "th-b", 2000)).await.unwrap();
    assert!(
        store.insert_scoped_token(&token("tok_c", "th-a", 3000)).await.is_err(),
        "duplicate hash accepted"
    );
    assert_eq!(
        store.scoped_token_by_hash("th-b").await.unwrap().unwrap(),
        token("tok_b", "th-b", 2000)
    );
    let listed: Vec<String> = store
        .list_scoped_tokens(&t1, "wrk_1")
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, ["tok_b", "tok_a"], "newest first");
    assert!(store.list_scoped_tokens(&t2, "wrk_1").await.unwrap().is_empty());
    assert!(
        !store.revoke_scoped_token(&t2, "wrk_1", "tok_a").await.unwrap(),
        "revoked across tenants"
    );
    assert!(
        !store.revoke_scoped_token(&t1, "wrk_2", "tok_a").await.unwrap(),
        "revoked through another workspace"
    );
    assert!(store.revoke_scoped_token(&t1, "wrk_1", "tok_a").await.unwrap());
    assert!(!store.revoke_scoped_token(&t1, "wrk_1", "tok_a").await.unwrap());
    assert!(store
        .scoped_token_by_hash("th-a")
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());

    // Credentials: upsert keeps added_at; tenant-scoped.
    let cred = CredentialRow {
        tenant_id: "t1".into(),
        service: "openai".into(),
        nonce: vec![1; 24],
        ciphertext: vec![2, 0, 255],
        fingerprint: "fp1".into(),
        added_at: 1000,
        updated_at: 1000,
    };
    store.put_credential(&cred).await.unwrap();
    let replaced = store
        .put_credential(&CredentialRow {
            fingerprint: "fp2".into(),
            added_at: 5000,
            updated_at: 5000,
            ..cred.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        (replaced.added_at, replaced.updated_at, replaced.fingerprint.as_str()),
        (1000, 5000, "fp2")
    );
    assert_eq!(replaced.ciphertext, vec![2, 0, 255]);
    assert!(store.credential("t2", "openai").await.unwrap().is_none());
    assert_eq!(store.list_credentials(&t2).await.unwrap().len(), 0);
    assert!(!store.delete_credential("t2", "openai").await.unwrap());

    // Sessions: tokens stored with the session, revoked on close.
    let session = SessionRow {
        id: "sess_1".into(),
        tenant_id: "t1".into(),
        created_at: now_ms(),
        expires_at: now_ms() + 60_000,
        closed_at: None,
        services: r#"["openai"]"#.into(),
        scopes: r#"{"openai":["/v1/chat/*"]}"#.into(),
        max_requests: Some(2),
        requests_used: 0,
        env_nonce: Some(vec![7; 24]),
        env_sealed: Some(vec![1, 2, 3]),
    };
    let token = TokenRow {
        token_hash: "tok-hash".into(),
        session_id: "sess_1".into(),
        tenant_id: "t1".into(),
        service: "openai".into(),
        expires_at: session.expires_at,
        revoked_at: None,
    };
    store.insert_session(&session, &[token]).await.unwrap();
    assert!(store.session(&t2, "sess_1").await.unwrap().is_none());
    assert_eq!(store.session(&t1, "sess_1").await.unwrap().unwrap(), session);
    let (rows, total) = store.list_sessions(&Scope::All, false, 10, 0).await.unwrap();
    assert_eq!((rows.len(), total), (1, 1));
    assert_eq!(rows[0].env_sealed.as_deref(), Some(&[1u8, 2, 3][..]));

    // The proxy's view of a token: its session and its tenant's sealed key,
    // in one query; budgets are spent atomically and never overspent.
    let grant = store.phantom_grant("tok-hash").await.unwrap().unwrap();
    assert_eq!(
        (grant.session_id.as_str(), grant.service.as_str()),
        ("sess_1", "openai")
    );
    assert_eq!(grant.scopes, session.scopes);
    assert_eq!(
        (grant.max_requests, grant.closed_at, grant.revoked_at),
        (Some(2), None, None)
    );
    assert_eq!(grant.nonce.as_deref(), Some(&[1u8; 24][..]));
    assert_eq!(grant.ciphertext.as_deref(), Some(&[2u8, 0, 255][..]));
    assert!(store.phantom_grant("nope").await.unwrap().is_none());
    assert!(store.spend_request("sess_1").await.unwrap());
    assert!(store.spend_request("sess_1").await.unwrap());
    assert!(!store.spend_request("sess_1").await.unwrap());
    assert_eq!(store.session(&t1, "sess_1").await.unwrap().unwrap().requests_used, 2);
    store.delete_credential("t1", "openai").await.unwrap();
    let grant = store.phantom_grant("tok-hash").await.unwrap().unwrap();
    assert_eq!((grant.nonce, grant.ciphertext), (None, None));
    store.put_credential(&replaced).await.unwrap();
    store
        .insert_audit_batch(&[
            AuditRow {
                tenant_id: "t1".into(),
                session_id: Some("sess_1".into()),
                service: Some("openai".into()),
                method: Some("GET".into()),
                path: Some("/v1/models".into()),
                status: Some(403),
                reject_reason: Some("scope_denied".into()),
                ..AuditRow::default()
            },
            AuditRow {
                tenant_id: "t1".into(),
                session_id: Some("sess_1".into()),
                status: Some(200),
                upstream_ms: Some(1.5),
                ..AuditRow::default()
            },
        ])
        .await
        .unwrap();
    assert!(!store.close_session(&t2, "sess_1").await.unwrap());
    assert!(store.close_session(&t1, "sess_1").await.unwrap());
    assert!(store
        .token_by_hash("tok-hash")
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());

    // Ledger: open, finish, filter, scope, crash recovery.
    let a = store
        .insert_jail("t1", "run", None, None, None, r#"{"language":"bash"}"#)
        .await
        .unwrap();
    let b = store
        .insert_jail("t1", "exec", Some("sess_1"), Some("lbl"), None, "{}")
        .await
        .unwrap();
    let c = store.insert_jail("t2", "run", None, None, None, "{}").await.unwrap();
    assert!(a < b && b < c);
    store
        .finish_jail(
            a,
            &JailEnd {
                status: "completed",
                exit_code: Some(0),
                duration_ms: Some(12.5),
                timed_out: true,
                stdout: "héllo".into(),
                ..JailEnd::default()
            },
        )
        .await
        .unwrap();
    let row = store.jail(&t1, a).await.unwrap().unwrap();
    assert_eq!(
        (row.status.as_str(), row.exit_code, row.timed_out, row.oom_killed),
        ("completed", Some(0), true, false)
    );
    assert_eq!(row.stdout, "héllo");
    assert!(store.jail(&t2, a).await.unwrap().is_none());
    let filter = JailFilter {
        kind: Some("exec".into()),
        ..JailFilter::default()
    };
    let (rows, total) = store.list_jails(&t1, &filter, 10, 0).await.unwrap();
    assert_eq!((rows.len(), total, rows[0].id), (1, 1, b));
    let search = JailFilter {
        q: Some("bash".into()),
        ..JailFilter::default()
    };
    assert_eq!(store.list_jails(&Scope::All, &search, 10, 0).await.unwrap().1, 1);
    let (rows, total) = store
        .list_jails(&Scope::All, &JailFilter::default(), 1, 1)
        .await
        .unwrap();
    assert_eq!((rows.len(), total, rows[0].id), (1, 3, b));
    assert_eq!(store.close_running_jails("server restarted").await.unwrap(), 2);
    let closed = store.jail(&t1, b).await.unwrap().unwrap();
    assert_eq!(closed.status, "error");
    assert_eq!(closed.error.as_deref(), Some("server restarted"));
    // The search is case-insensitive and covers errors (agentjail's `q`).
    let search = JailFilter {
        q: Some("Server RESTARTED".into()),
        ..JailFilter::default()
    };
    assert_eq!(store.list_jails(&Scope::All, &search, 10, 0).await.unwrap().1, 2);

    // Audit and counters.
    store
        .insert_audit(&AuditRow {
            tenant_id: "t1".into(),
            actor: Some("key_a".into()),
            action: Some("credential.put".into()),
            target: Some("openai".into()),
            ..AuditRow::default()
        })
        .await
        .unwrap();
    // Proxy requests and control-plane actions are listed apart.
    let (rows, total) = store.list_audit(&t1, false, 10, 0).await.unwrap();
    assert_eq!((rows.len(), total), (2, 2));
    assert_eq!(rows[0].upstream_ms, Some(1.5));
    assert_eq!(rows[1].reject_reason.as_deref(), Some("scope_denied"));
    let (rows, total) = store.list_audit(&t1, true, 10, 0).await.unwrap();
    assert_eq!((rows.len(), total), (1, 1));
    assert_eq!(rows[0].action.as_deref(), Some("credential.put"));
    assert!(store
        .phantom_grant("tok-hash")
        .await
        .unwrap()
        .unwrap()
        .closed_at
        .is_some());
    assert_eq!(store.list_audit(&t2, false, 10, 0).await.unwrap().1, 0);
    // A closed session leaves the list unless closed ones are asked for.
    assert_eq!(store.list_sessions(&t1, false, 10, 0).await.unwrap().1, 0);
    assert_eq!(store.list_sessions(&t1, true, 10, 0).await.unwrap().1, 1);
    assert_eq!(store.counters(&t1).await.unwrap(), (2, 0, 1));

    storage_charges(store, &t1).await;
}

/// A tenant's storage: its undeleted workspaces' charges and its
/// snapshots' stored bytes, a pause's snapshot excepted.
async fn storage_charges(store: &Db, t1: &Scope) {
    const MIB: i64 = 1 << 20;
    let workspace = |id: &str, charged_bytes: i64| WorkspaceRow {
        id: id.into(),
        tenant_id: "t1".into(),
        created_at: now_ms(),
        deleted_at: None,
        label: None,
        spec: "{}".into(),
        git_repo: None,
        git_ref: None,
        last_exec_at: None,
        paused_at: None,
        auto_snapshot: None,
        charged_bytes,
    };
    let snapshot = |id: &str, auto: i64, size_bytes: i64, stored_bytes: i64| SnapshotRow {
        id: id.into(),
        tenant_id: "t1".into(),
        workspace_id: Some("wrk_a".into()),
        name: None,
        created_at: now_ms(),
        size_bytes,
        file_count: 1,
        frozen: 0,
        auto,
        stored_bytes,
    };
    store.insert_workspace(&workspace("wrk_a", 3 * MIB)).await.unwrap();
    store.insert_workspace(&workspace("wrk_b", 5 * MIB)).await.unwrap();
    for (snap, blobs) in [
        (snapshot("snap_a", 0, 9 * MIB, 7 * MIB), vec!["h1".to_owned()]),
        (snapshot("snap_pause", 1, 11 * MIB, 11 * MIB), vec![]),
        (snapshot("snap_legacy", 0, 2 * MIB, 0), vec!["h2".to_owned()]),
        (snapshot("snap_holes", 0, 0, 0), vec![]),
    ] {
        store.insert_snapshot(&snap, "{}", &blobs).await.unwrap();
    }
    assert_eq!(store.tenant_storage_bytes("t1").await.unwrap(), 15 * MIB);
    assert_eq!(store.tenant_storage_bytes("t2").await.unwrap(), 0);
    assert!(store.delete_workspace(t1, "wrk_b").await.unwrap());
    assert_eq!(store.tenant_storage_bytes("t1").await.unwrap(), 10 * MIB);
    // Snapshots from before stored bytes were recorded are found and
    // charged once measured.
    assert_eq!(store.snapshots_without_stored_bytes().await.unwrap(), ["snap_legacy"]);
    store.set_snapshot_stored_bytes("snap_legacy", 2 * MIB).await.unwrap();
    assert!(store.snapshots_without_stored_bytes().await.unwrap().is_empty());
    assert_eq!(store.tenant_storage_bytes("t1").await.unwrap(), 12 * MIB);
    assert!(store.delete_snapshot(t1, "snap_a").await.unwrap());
    assert_eq!(store.tenant_storage_bytes("t1").await.unwrap(), 5 * MIB);
}

#[test]
fn sqlite_store_keeps_everything_across_a_reopen() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Db::open(None, dir.path()).await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        exercise(&store).await;
        store.close().await;
        let again = Db::open(None, dir.path()).await.unwrap();
        assert!(again.key_by_hash("hash-b").await.unwrap().is_some());
        assert!(again
            .token_by_hash("tok-hash")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some());
        assert_eq!(again.counters(&Scope::All).await.unwrap(), (3, 0, 1));
        again.close().await;
    });
}

#[test]
fn postgres_store_behaves_the_same() {
    runtime().block_on(async {
        let db = PgDatabase::create().await;
        let store = Db::open(Some(&db.url), std::path::Path::new("/nonexistent"))
            .await
            .unwrap();
        assert_eq!(store.backend(), Backend::Postgres);
        exercise(&store).await;
        store.close().await;
        let again = Db::open(Some(&db.url), std::path::Path::new("/nonexistent"))
            .await
            .unwrap();
        assert!(again.token_by_hash("tok-hash").await.unwrap().is_some());
        again.close().await;
        db.drop_database().await;
    });
}

/// A statement whose connection PostgreSQL cuts (a shutdown, a crash, a
/// terminated backend) has an unknown outcome: it answers
/// DATABASE_CONNECTION_LOST, never "nothing was stored". A pool that
/// cannot hand out a connection in time has sent nothing: that one is
/// DATABASE_UNAVAILABLE.
#[test]
fn postgres_connection_cut_mid_statement_is_outcome_unknown() {
    use sqlx::{Connection, Executor, Row};
    runtime().block_on(async {
        let db = PgDatabase::create().await;
        let mut victim = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let pid: i32 = victim.fetch_one("SELECT pg_backend_pid()").await.unwrap().get(0);
        let sleeper = tokio::spawn(async move { victim.execute("SELECT pg_sleep(30)").await.map(|_| ()) });
        let mut killer = sqlx::PgConnection::connect(&db.url).await.unwrap();
        // Until the sleep is running, terminating would race its start.
        for _ in 0..200 {
            let running: i64 = killer
                .fetch_one(
                    format!("SELECT count(*) FROM pg_stat_activity WHERE pid = {pid} AND query LIKE '%pg_sleep%'")
                        .as_str(),
                )
                .await
                .unwrap()
                .get(0);
            if running == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        killer
            .execute(format!("SELECT pg_terminate_backend({pid})").as_str())
            .await
            .unwrap();
        let cut = sleeper.await.unwrap().expect_err("the terminated statement failed");
        let cut = paddock_server::db::DbError::Database(cut);
        assert!(cut.outcome_unknown(), "{cut:?}");
        assert_eq!(
            paddock_api::Error::from(cut).code,
            paddock_api::ErrorCode::DatabaseConnectionLost
        );

        let timed_out = paddock_server::db::DbError::Database(sqlx::Error::PoolTimedOut);
        assert!(!timed_out.outcome_unknown());
        assert_eq!(
            paddock_api::Error::from(timed_out).code,
            paddock_api::ErrorCode::DatabaseUnavailable
        );
        killer.close().await.unwrap();
        db.drop_database().await;
    });
}

#[test]
fn unsupported_urls_are_refused_without_leaking_passwords() {
    runtime().block_on(async {
        let err = Db::open(Some("mysql://root:hunter2@db/x"), std::path::Path::new("/tmp"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("unsupported") && !err.contains("hunter2"), "{err}");
    });
}
