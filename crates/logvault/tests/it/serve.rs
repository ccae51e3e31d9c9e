//! `logvault serve`: starts with no set-up, HTTPS by default, keeps its certificate and data across restarts, and
//! refuses a wrong or missing master key without touching the data.

use logvault_store::testing::PgTestDb;

use crate::support::{ServerProcess, client_trusting, error_line, logvault, run, snapshot};

fn serve(data_dir: &std::path::Path) -> std::process::Command {
    let mut command = logvault();
    command.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(data_dir);
    command
}

#[tokio::test]
async fn serve_starts_with_no_set_up_and_a_restart_keeps_certificate_and_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = ServerProcess::start(serve(&data));
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);
    let client = client_trusting(&data);
    let response = client.get(format!("{}/healthz", server.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
    assert_eq!(client.get(format!("{}/readyz", server.url)).send().await.unwrap().status(), 200);
    server.stop();

    let cert_before = std::fs::read(data.join("tls/self-signed-cert.pem")).unwrap();
    let key_before = std::fs::read(data.join("master.key")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(data.join("master.key")).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(data.join("logvault.db")).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let db = std::fs::read(data.join("logvault.db")).unwrap();
    assert!(!db.starts_with(b"SQLite format 3"), "the database is not encrypted");

    let server = ServerProcess::start(serve(&data));
    let client = client_trusting(&data);
    assert_eq!(client.get(format!("{}/readyz", server.url)).send().await.unwrap().status(), 200);
    server.stop();
    assert_eq!(std::fs::read(data.join("tls/self-signed-cert.pem")).unwrap(), cert_before);
    assert_eq!(std::fs::read(data.join("master.key")).unwrap(), key_before);
}

#[tokio::test]
async fn serve_on_postgres_answers_health_and_readiness() {
    let Some(db) = PgTestDb::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    // Trust authentication ignores the password, so a canary password can ride along to show it is never logged.
    let plain = logvault_store::testing::expose(db.url());
    let url = match plain.split_once("://").and_then(|(scheme, rest)| rest.split_once('@').map(|r| (scheme, r))) {
        Some((scheme, (user, host))) if !user.contains(':') => format!("{scheme}://{user}:Canary-Db-Passw0rd@{host}"),
        _ => plain.to_owned(),
    };
    let mut command = serve(dir.path());
    command.env("LOGVAULT_DATABASE_URL", &url).env("RUST_LOG", "trace");
    let server = ServerProcess::start(command);
    let client = client_trusting(dir.path());
    assert_eq!(client.get(format!("{}/healthz", server.url)).send().await.unwrap().status(), 200);
    assert_eq!(client.get(format!("{}/readyz", server.url)).send().await.unwrap().status(), 200);
    let output = server.stop();
    assert!(!output.contains("Canary-Db-Passw0rd"), "the database password was logged");
    assert!(!dir.path().join("logvault.db").exists(), "PostgreSQL mode created a SQLite file");
}

#[test]
fn a_wrong_master_key_fails_with_one_clear_line_and_changes_nothing_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = ServerProcess::start(serve(&data));
    server.stop();
    let before = snapshot(&data);

    let other = tempfile::tempdir().unwrap();
    let wrong_key = other.path().join("wrong.key");
    std::fs::write(&wrong_key, format!("{}\n", "ab".repeat(32))).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrong_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let output = run(serve(&data).env("LOGVAULT_MASTER_KEY_FILE", &wrong_key));
    let line = error_line(&output);
    assert!(line.starts_with("error: "), "{line}");
    assert!(line.contains("wrong master key"), "{line}");
    assert!(!line.contains(&"ab".repeat(32)), "the key was printed: {line}");
    assert_eq!(before, snapshot(&data), "a failed start changed the data directory");
}

#[test]
fn a_missing_master_key_beside_an_existing_database_fails_and_creates_no_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ServerProcess::start(serve(&data)).stop();
    std::fs::rename(data.join("master.key"), dir.path().join("moved.key")).unwrap();
    let before = snapshot(&data);
    let line = error_line(&run(&mut serve(&data)));
    assert!(line.contains("master key file") && line.contains("does not exist"), "{line}");
    assert_eq!(before, snapshot(&data));
    assert!(!data.join("master.key").exists());

    let missing = run(serve(&data).env("LOGVAULT_MASTER_KEY_FILE", dir.path().join("nowhere.key")));
    assert!(error_line(&missing).contains("does not exist"));
}

#[tokio::test]
async fn plain_http_needs_the_explicit_flag_and_is_announced_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(serve(dir.path()));
    let plain = server.url.replace("https://", "http://");
    let refused = reqwest::get(format!("{plain}/healthz")).await;
    assert!(refused.map(|r| !r.status().is_success()).unwrap_or(true), "plain HTTP answered on the TLS port");
    server.stop();

    let mut command = serve(dir.path());
    command.arg("--insecure-http");
    let server = ServerProcess::start(command);
    assert!(server.url.starts_with("http://127.0.0.1:"), "{}", server.url);
    assert_eq!(reqwest::get(format!("{}/healthz", server.url)).await.unwrap().status(), 200);
    let output = server.stop();
    assert!(output.contains("WARNING: Logvault is serving PLAIN HTTP"), "{output}");
}

#[test]
fn a_bad_listen_address_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(logvault().args(["serve", "--listen", "not-an-address", "--data-dir"]).arg(dir.path()));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--listen"), "{stderr}");
}

#[tokio::test]
async fn on_postgres_a_missing_or_foreign_master_key_is_refused_and_no_key_is_made() {
    let Some(db) = PgTestDb::create().await else { return };
    let url = logvault_store::testing::expose(db.url()).to_owned();
    let first = tempfile::tempdir().unwrap();
    let output = run(logvault().arg("migrate").arg("--data-dir").arg(first.path()).env("LOGVAULT_DATABASE_URL", &url));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // A fresh data directory: no key file, but the database has data, so no new key may be made.
    let fresh = tempfile::tempdir().unwrap();
    let line = error_line(&run(logvault()
        .arg("migrate")
        .arg("--data-dir")
        .arg(fresh.path())
        .env("LOGVAULT_DATABASE_URL", &url)));
    assert!(line.contains("does not exist but the data directory already holds a database"), "{line}");
    assert!(!fresh.path().join("master.key").exists(), "a new master key was made for an existing database");

    // Another instance's key: refused by the stored key check.
    let other = tempfile::tempdir().unwrap();
    ServerProcess::start(serve(other.path())).stop();
    let before = snapshot(other.path());
    let mut command = serve(other.path());
    command.env("LOGVAULT_DATABASE_URL", &url);
    let line = error_line(&run(&mut command));
    assert!(line.contains("master key does not belong to this database"), "{line}");
    assert_eq!(before, snapshot(other.path()));
}

#[test]
fn a_malformed_database_url_fails_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let line = error_line(&run(serve(&data).env("LOGVAULT_DATABASE_URL", "postgres://[broken")));
    assert!(line.contains("postgres"), "{line}");
    assert!(!data.exists(), "a failed start created the data directory");
}

#[tokio::test]
async fn an_empty_instance_prints_a_one_time_setup_link_that_opens_the_first_run_page_and_never_logs_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = ServerProcess::start(serve(&data));
    let port = server.url.rsplit(':').next().unwrap().to_owned();
    let mut link = None;
    for _ in 0..50 {
        link = server.stdout.lock().unwrap().lines().find(|line| line.contains("/setup#")).map(str::to_owned);
        if link.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let link = link.expect("serve prints a setup link on an empty instance");
    let (base, token) = link.split_once("/setup#").unwrap();
    assert_eq!(base, format!("https://localhost:{port}"), "the link names the port actually bound");
    assert!(token.len() >= 40, "{token}");
    let client = client_trusting(&data);
    let page = client.get(format!("{}/setup", server.url)).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Set up Logvault"));
    let stderr = server.stderr.lock().unwrap().clone();
    assert!(!stderr.contains(token), "the setup token is in the logs");
    server.stop();
}
