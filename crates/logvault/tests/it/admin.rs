//! Admin commands: configuration and migrations, beside a running server.

use crate::support::{ServerProcess, error_line, logvault, run};

#[test]
fn config_show_applies_file_env_and_flags_in_order_and_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("logvault.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:9000\"\ndata_dir = \"from-file\"\n[http]\nmax_body_bytes = 4096\n")
        .unwrap();
    let output = run(logvault()
        .args(["config", "show", "--config"])
        .arg(&file)
        .args(["--data-dir", "from-flag"])
        .env("LOGVAULT_LISTEN", "127.0.0.1:9100")
        .env("LOGVAULT_DATABASE_URL", "postgres://lv:s3cret-db-password@db.internal:5432/lv")
        .env("LOGVAULT_METRICS__TOKEN", "s3cret-metrics-token-0123456789abcdef"));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let shown = String::from_utf8(output.stdout).unwrap();
    assert!(shown.contains("data_dir = \"from-flag\""), "{shown}");
    assert!(shown.contains("listen = \"127.0.0.1:9100\""), "{shown}");
    assert!(shown.contains("max_body_bytes = 4096"), "{shown}");
    assert!(shown.contains("postgres://lv:[redacted]@db.internal:5432/lv"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn config_template_is_a_commented_example() {
    let output = run(logvault().args(["config", "template"]));
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("# listen = \"127.0.0.1:8443\""), "{text}");
    assert!(text.contains("[metrics]"), "{text}");
}

#[test]
fn a_bad_configuration_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "lissen = 1\n").unwrap();
    let line = error_line(&run(logvault().args(["config", "show", "--config"]).arg(&file)));
    assert!(line.contains("lissen"), "{line}");
    let line = error_line(&run(logvault().args(["config", "show", "--config", "/nonexistent/logvault.toml"])));
    assert!(line.contains("does not exist"), "{line}");
}

#[test]
fn migrate_works_beside_a_running_server_and_reports_status() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut serve = logvault();
    serve.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(&data);
    let server = ServerProcess::start(serve);

    let output = run(logvault().arg("migrate").env("LOGVAULT_DATA_DIR", &data));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("up to date"));

    let output = run(logvault().args(["migrate", "--status", "--data-dir"]).arg(&data));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status["pending"], serde_json::json!([]));
    assert!(!status["applied"].as_array().unwrap().is_empty());
    server.stop();
}

#[test]
fn migrate_on_a_fresh_data_dir_creates_and_migrates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(logvault().args(["migrate", "--data-dir"]).arg(dir.path()));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("applied migrations"));
    assert!(dir.path().join("logvault.db").exists());
}
