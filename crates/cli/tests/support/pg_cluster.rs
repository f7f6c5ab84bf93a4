//! A private PostgreSQL cluster for fault-injection tests: its own data
//! directory, port and socket directory, run as the `postgres` user, so a
//! test can stop and start it without touching the shared server that
//! `scripts/test` starts. Trust authentication on 127.0.0.1 only. Needs
//! root (to act as `postgres`) and a PostgreSQL installation under
//! `/usr/lib/postgresql/<version>/bin`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running private cluster with one database, `paddock`; stopped and
/// removed when dropped.
pub struct PgCluster {
    /// The top directory (owned by `postgres`): `data`, `sock`, `log`.
    root: tempfile::TempDir,
    bin: PathBuf,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    /// `postgres://postgres@127.0.0.1:PORT/paddock`.
    pub url: String,
}

/// The newest installed PostgreSQL's `bin` directory.
fn pg_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed under /usr/lib/postgresql")
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().expect("an initdb under /usr/lib/postgresql/*/bin").1
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, "postgres"]).output().expect("id");
        assert!(out.status.success(), "no postgres user");
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("numeric id")
    };
    (id("-u"), id("-g"))
}

impl PgCluster {
    /// Creates the cluster (`initdb --auth=trust`), starts it and creates
    /// the `paddock` database.
    pub fn create() -> PgCluster {
        let bin = pg_bin();
        let root = tempfile::Builder::new()
            .prefix("paddock-pg-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let (uid, gid) = postgres_ids();
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::os::unix::fs::chown(root.path(), Some(uid), Some(gid)).expect("chown to postgres");
        let sock = root.path().join("sock");
        std::fs::create_dir(&sock).expect("socket dir");
        std::os::unix::fs::chown(&sock, Some(uid), Some(gid)).expect("chown");
        let port = free_port();
        let cluster = PgCluster {
            url: format!("postgres://postgres@127.0.0.1:{port}/paddock"),
            root,
            bin,
            port,
        };
        let data = cluster.data();
        cluster.as_postgres(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "--auth=trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        cluster.start();
        cluster.as_postgres(
            "createdb",
            &["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "paddock"],
        );
        cluster
    }

    fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.root.path().join("log")
    }

    /// Runs one of the cluster's programs as `postgres`, asserting success.
    fn as_postgres(&self, program: &str, args: &[&str]) -> Output {
        let out = self.try_as_postgres(program, args);
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn try_as_postgres(&self, program: &str, args: &[&str]) -> Output {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .args(args)
            .current_dir(self.root.path())
            .output()
            .unwrap_or_else(|e| panic!("runuser {program}: {e}"))
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.root.path().join("sock").display()
        );
        let data = self.data();
        let log = self.log_path();
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// Stops the server at once (`-m immediate`: every connection cut, as
    /// if the database host went away).
    pub fn stop(&self) {
        let data = self.data();
        self.as_postgres(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"],
        );
    }

    /// One SQL statement through `psql`; its rows as `|`-separated text.
    pub fn query(&self, sql: &str) -> String {
        let port = self.port.to_string();
        let out = self.as_postgres(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                "paddock",
                "-qtAc",
                sql,
            ],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The data directory (for tests that look at it).
    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data();
        if data.join("postmaster.pid").exists() {
            let _ = self.try_as_postgres(
                "pg_ctl",
                &["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"],
            );
        }
    }
}
