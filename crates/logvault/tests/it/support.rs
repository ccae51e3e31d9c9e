//! Running the `logvault` binary and talking to it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The binary under test, with a clean environment (no inherited `LOGVAULT_*` or `RUST_LOG`).
pub fn logvault() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_logvault"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("LOGVAULT_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command.stdin(Stdio::null());
    command
}

/// Runs a command to completion.
pub fn run(command: &mut Command) -> Output {
    command.output().expect("logvault runs")
}

/// A `logvault serve` process; SIGTERM on drop.
pub struct ServerProcess {
    pub child: Child,
    pub url: String,
    pub stderr: Arc<Mutex<String>>,
    pub stdout: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Starts `command` (a `serve`) and waits for its `listening on` line.
    pub fn start(mut command: Command) -> ServerProcess {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("serve starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_sink = Arc::clone(&stderr);
        let mut child_stderr = child.stderr.take().expect("stderr piped");
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = child_stderr.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                stderr_sink.lock().expect("lock").push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        let stdout = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout_sink = Arc::clone(&stdout);
        let child_stdout = child.stdout.take().expect("stdout piped");
        std::thread::spawn(move || {
            for line in BufReader::new(child_stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.to_owned());
                }
                stdout_sink.lock().expect("lock").push_str(&line);
                stdout_sink.lock().expect("lock").push('\n');
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start; stderr:\n{}", stderr.lock().expect("lock"));
            }
        };
        ServerProcess { child, url, stderr, stdout }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> String {
        terminate(&mut self.child);
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "server exited with {status}; stderr:\n{}", self.stderr.lock().expect("lock"));
        // Let the reader threads drain.
        std::thread::sleep(Duration::from_millis(100));
        let output = format!("{}{}", self.stdout.lock().expect("lock"), self.stderr.lock().expect("lock"));
        output
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
}

/// A client trusting the self-signed certificate in `data_dir`.
pub fn client_trusting(data_dir: &Path) -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let pem = std::fs::read(data_dir.join("tls/self-signed-cert.pem")).expect("certificate written");
    let cert = reqwest::Certificate::from_pem(&pem).expect("certificate parses");
    let idle = Duration::from_secs(5);
    reqwest::Client::builder().pool_idle_timeout(idle).tls_certs_only([cert]).build().expect("client builds")
}

/// Every file under `dir` with its content, to show a failed command changed nothing.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.display().to_string(), std::fs::read(&path).expect("read file"));
            }
        }
    }
    files
}

/// The one error line of a failed command.
pub fn error_line(output: &Output) -> String {
    assert!(!output.status.success(), "expected failure, got success");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected exactly one line on stderr, got:\n{stderr}");
    lines[0].to_owned()
}

/// A data directory (and, for the PostgreSQL half, a fresh database) that commands and servers run against.
pub struct Instance {
    pub dir: tempfile::TempDir,
    pub postgres: Option<logvault_store::testing::PgTestDb>,
}

impl Instance {
    /// A fresh instance; `None` when the PostgreSQL half is skipped outside CI.
    pub async fn new(postgres: bool) -> Option<Instance> {
        let postgres = if postgres { Some(logvault_store::testing::PgTestDb::create().await?) } else { None };
        Some(Instance { dir: tempfile::tempdir().unwrap(), postgres })
    }

    /// Direct SQL with guards switched off, as someone with full database access could: the user triggers of
    /// `pg_tables` on PostgreSQL, the `sqlite_triggers` on SQLite.
    pub async fn tamper(&self, pg_tables: &[&str], sqlite_triggers: &[&str], statements: &[&str]) {
        use logvault_store::testing::RawPool;
        let pool = match &self.postgres {
            Some(db) => {
                // The owner: the server's own connections run as a role that may not disable triggers.
                let pool = RawPool::postgres_owner(db.url()).await;
                for table in pg_tables {
                    pool.execute(&format!("ALTER TABLE {table} DISABLE TRIGGER USER")).await.unwrap();
                }
                pool
            }
            None => {
                use logvault_store::sqlite::{SQLCIPHER_KEY_PURPOSE, SqliteStore};
                let key = logvault_core::MasterKey::load(&self.dir.path().join("master.key")).unwrap();
                let path = self.dir.path().join("logvault.db");
                let store = SqliteStore::open(&path, &key.derive(SQLCIPHER_KEY_PURPOSE)).await.unwrap();
                let pool = RawPool::Sqlite(store.pool().clone());
                for trigger in sqlite_triggers {
                    pool.execute(&format!("DROP TRIGGER {trigger}")).await.unwrap();
                }
                pool
            }
        };
        for sql in statements {
            pool.execute(sql).await.unwrap();
        }
        pool.close().await;
    }

    /// `logvault` pointed at this instance.
    pub fn command(&self) -> Command {
        let mut command = logvault();
        command.arg("--data-dir").arg(self.dir.path());
        if let Some(db) = &self.postgres {
            command.env("LOGVAULT_DATABASE_URL", logvault_store::testing::expose(db.url()));
        }
        command
    }
}
