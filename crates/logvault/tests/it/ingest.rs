//! The data path as an operator and a logger live it: `logvault device add` → `logvault sim link` → the link posted
//! to a running server → measurements readable by a member; and `logvault verify` naming tampering done directly in
//! the database. On both engines.

use std::io::Write as _;
use std::process::Stdio;

use serde_json::{Value, json};

use crate::support::{Instance, ServerProcess, client_trusting, error_line, run};

const PASSWORD: &str = "a long and unusual passphrase for the ingest tests";

fn one_line(output: &std::process::Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap().trim().to_owned()
}

impl Instance {
    fn create_member(&self, org: &str, email: &str) {
        let mut child = self
            .command()
            .args(["user", "create", "--org", org, "--email", email, "--role", "viewer", "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }

    /// A QR link from the simulator: `samples` five-minute samples from `start`, sealed with `counter`.
    fn sim_link(&self, key: &str, counter: u64, start: &str, samples: u32) -> String {
        one_line(&run(self.command().args([
            "sim",
            "link",
            "--serial",
            "LV-0100",
            "--key",
            key,
            "--base-url",
            "https://logvault.example.test",
            "--samples",
            &samples.to_string(),
            "--start",
            start,
            "--counter",
            &counter.to_string(),
        ])))
    }
}

async fn post_link(client: &reqwest::Client, url: &str, link: String) -> Value {
    let response = client
        .post(format!("{url}/api/v1/ingest"))
        .header("content-type", "text/plain")
        .body(link)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// An instance with device LV-0100 in "Acme" (viewer ana@example.test) holding three ingested blocks of 10 samples.
async fn ingested(postgres: bool) -> Option<(Instance, String)> {
    let instance = Instance::new(postgres).await?;
    instance.create_member("Acme", "ana@example.test");
    let key = one_line(&run(instance.command().args(["device", "add", "--org", "Acme", "--serial", "LV-0100"])));
    let mut serve = instance.command();
    serve.args(["serve", "--listen", "127.0.0.1:0"]);
    let server = ServerProcess::start(serve);
    let client = client_trusting(instance.dir.path());
    for (counter, start) in [(1, "2026-01-01T00:00:00Z"), (2, "2026-01-01T01:00:00Z"), (3, "2026-01-01T02:00:00Z")] {
        let body = post_link(&client, &server.url, instance.sim_link(&key, counter, start, 10)).await;
        assert_eq!((body["device"].as_str(), body["accepted"].as_u64()), (Some("LV-0100"), Some(10)), "{body}");
    }
    server.stop();
    Some((instance, key))
}

async fn device_add_sim_link_post_read(postgres: bool) {
    let Some((instance, key)) = ingested(postgres).await else { return };
    instance.create_member("Globex", "gus@example.test");
    let mut serve = instance.command();
    serve.args(["serve", "--listen", "127.0.0.1:0"]);
    let server = ServerProcess::start(serve);
    let client = client_trusting(instance.dir.path());
    let url = server.url.clone();

    // The same link again stores nothing new.
    let again = post_link(&client, &url, instance.sim_link(&key, 1, "2026-01-01T00:00:00Z", 10)).await;
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(10)));

    let sign_in = async |email: &str| {
        let response = client
            .post(format!("{url}/api/v1/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned()
    };
    let path = format!("{url}/api/v1/devices/LV-0100/measurements");
    let ana = sign_in("ana@example.test").await;
    let page: Value = client.get(&path).header("cookie", &ana).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["measurements"].as_array().unwrap().len(), 30, "{page}");
    let gus = sign_in("gus@example.test").await;
    assert_eq!(client.get(&path).header("cookie", &gus).send().await.unwrap().status(), 404);
    assert_eq!(client.get(&path).send().await.unwrap().status(), 401);
    let output = server.stop();
    assert!(!output.contains(&key), "the device key reached the server's output");

    let report = run(instance.command().arg("verify"));
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    assert!(String::from_utf8_lossy(&report.stdout).contains("device LV-0100: 3 blocks, intact"));
}

#[tokio::test(flavor = "multi_thread")]
async fn device_add_sim_link_post_and_read_on_sqlite() {
    device_add_sim_link_post_read(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn device_add_sim_link_post_and_read_on_postgres() {
    device_add_sim_link_post_read(true).await;
}

async fn verify_names_tampering(postgres: bool) {
    let cases: [(&[&str], &str); 4] = [
        (&["DELETE FROM measurements WHERE t_s = (SELECT max(t_s) FROM measurements)"], "of block 3 is missing"),
        (
            &["UPDATE measurements SET value = value + 100 WHERE t_s = (SELECT min(t_s) FROM measurements)"],
            "kept from block 1 differs from the block",
        ),
        (
            &[
                "DELETE FROM measurements WHERE block_id = (SELECT id FROM blocks WHERE seq = 2)",
                "DELETE FROM blocks WHERE seq = 2",
            ],
            "block 2 is missing or out of order",
        ),
        (
            &[
                "UPDATE blocks SET seq = 100 WHERE seq = 1",
                "UPDATE blocks SET seq = 1 WHERE seq = 2",
                "UPDATE blocks SET seq = 2 WHERE seq = 100",
            ],
            "block 1 is missing or out of order (found block 2 in its place)",
        ),
    ];
    for (statements, expected) in cases {
        let Some((instance, _)) = ingested(postgres).await else { return };
        let tables = ["blocks", "measurements", "device_chain_heads"];
        let triggers = [
            "blocks_are_immutable_update",
            "blocks_are_immutable_delete",
            "measurements_are_immutable_update",
            "measurements_are_immutable_delete",
        ];
        instance.tamper(&tables, &triggers, statements).await;
        let line = error_line(&run(instance.command().arg("verify")));
        assert!(line.contains("verification failed") && line.contains("LV-0100"), "{line}");
        assert!(line.contains(expected), "expected {expected:?} in {line:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_names_a_changed_measurement_a_removed_block_and_a_reordered_block_on_sqlite() {
    verify_names_tampering(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_names_a_changed_measurement_a_removed_block_and_a_reordered_block_on_postgres() {
    verify_names_tampering(true).await;
}

/// `logvault retention set|show|purge` and `logvault verify` afterwards: the two-year floor refused in one line, the
/// expired blocks removed, the chain still intact from the retained block, and tampering with what is left still
/// named.
async fn retention_purge_then_verify(postgres: bool) {
    let Some(instance) = Instance::new(postgres).await else { return };
    instance.create_member("Acme", "ana@example.test");
    let key = one_line(&run(instance.command().args(["device", "add", "--org", "Acme", "--serial", "LV-0100"])));
    let mut serve = instance.command();
    serve.args(["serve", "--listen", "127.0.0.1:0"]);
    let server = ServerProcess::start(serve);
    let client = client_trusting(instance.dir.path());
    let yesterday = (time::OffsetDateTime::now_utc() - time::Duration::days(1))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for (counter, start) in [(1, "2021-01-01T00:00:00Z"), (2, "2021-01-01T01:00:00Z"), (3, yesterday.as_str())] {
        let body = post_link(&client, &server.url, instance.sim_link(&key, counter, start, 10)).await;
        assert_eq!(body["accepted"].as_u64(), Some(10), "{body}");
    }
    server.stop();

    let refused = run(instance.command().args(["retention", "set", "--org", "Acme", "--days", "730"]));
    let line = error_line(&refused);
    assert!(line.contains("at least 731 days"), "{line}");
    assert_eq!(one_line(&run(instance.command().args(["retention", "show", "--org", "Acme"]))), "Acme: indefinite");
    // Nothing to purge while the retention is indefinite.
    let nothing = one_line(&run(instance.command().args(["retention", "purge"])));
    assert_eq!(nothing, "retention purge: removed 0 blocks and 0 measurements");

    let set = one_line(&run(instance.command().args(["retention", "set", "--org", "Acme", "--days", "731"])));
    assert_eq!(set, "Acme: retention 731 days");
    assert_eq!(one_line(&run(instance.command().args(["retention", "show", "--org", "Acme"]))), "Acme: 731 days");
    let purged = one_line(&run(instance.command().args(["retention", "purge", "--org", "Acme"])));
    assert!(
        purged.starts_with(
            "Acme: device LV-0100: removed 2 blocks and 20 measurements; the chain now starts at block 3\n"
        ),
        "{purged}"
    );

    let report = run(instance.command().arg("verify"));
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    assert!(String::from_utf8_lossy(&report.stdout).contains("device LV-0100: 1 blocks, intact"));
    let audit = run(instance.command().args(["audit", "verify"]));
    assert!(audit.status.success(), "{}", String::from_utf8_lossy(&audit.stderr));

    // What is left is still guarded by the verification.
    let tables = ["measurements"];
    let triggers = ["measurements_are_immutable_update"];
    instance.tamper(&tables, &triggers, &["UPDATE measurements SET value = value + 100"]).await;
    let line = error_line(&run(instance.command().arg("verify")));
    assert!(line.contains("verification failed") && line.contains("kept from block 3 differs"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_purge_leaves_the_chain_verifiable_from_the_retained_block_on_sqlite() {
    retention_purge_then_verify(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_purge_leaves_the_chain_verifiable_from_the_retained_block_on_postgres() {
    retention_purge_then_verify(true).await;
}

/// `logvault export` writes the same signed files the API serves, under the server's own key; refuses to overwrite
/// one; and bad input is one line with no file left behind.
async fn export_then_verify(postgres: bool) {
    let Some((instance, _)) = ingested(postgres).await else { return };
    let mut serve = instance.command();
    serve.args(["serve", "--listen", "127.0.0.1:0"]);
    let server = ServerProcess::start(serve);
    let client = client_trusting(instance.dir.path());
    let key: Value =
        client.get(format!("{}/api/v1/signing-key", server.url)).send().await.unwrap().json().await.unwrap();
    let public_key = key["public_key"].as_str().unwrap().to_owned();
    server.stop();

    let out = tempfile::tempdir().unwrap();
    let period = ["--from", "2026-01-01T00:00:00Z", "--to", "2026-01-02T00:00:00Z"];
    for format in ["csv", "xlsx", "pdf"] {
        let file = out.path().join(format!("export.{format}"));
        let file_arg = file.to_str().unwrap();
        let made = run(instance
            .command()
            .args(["export", "--serial", "LV-0100", "--format", format])
            .args(period)
            .args(["--output", file_arg]));
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        assert!(String::from_utf8_lossy(&made.stderr).starts_with(&format!("wrote {file_arg} (")));
        let verified =
            one_line(&run(instance.command().args(["verify-export", file_arg, "--public-key", &public_key])));
        assert!(verified.starts_with(&format!("verified: {format} export of LV-0100 (Acme)")), "{verified}");
        assert!(verified.contains(", 30 rows ("), "{verified}");
        assert!(!verified.contains("warning"), "{verified}");

        // An existing file is never overwritten.
        let before = std::fs::read(&file).unwrap();
        let again = run(instance
            .command()
            .args(["export", "--serial", "LV-0100", "--format", format])
            .args(period)
            .args(["--output", file_arg]));
        assert!(error_line(&again).contains("exists already"));
        assert_eq!(std::fs::read(&file).unwrap(), before);
    }
    // The default name is the API's, in the current directory.
    let made = run(instance
        .command()
        .current_dir(out.path())
        .args(["export", "--serial", "LV-0100", "--format", "csv"])
        .args(period));
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    assert!(out.path().join("LV-0100_20260101T000000Z_20260102T000000Z.csv").exists());

    // Bad input: one line, and no file.
    let bad = out.path().join("bad.csv");
    let bad_arg = bad.to_str().unwrap();
    for (args, expected) in [
        (
            vec![
                "--serial",
                "LV-9999",
                "--format",
                "csv",
                "--from",
                "2026-01-01T00:00:00Z",
                "--to",
                "2026-01-02T00:00:00Z",
            ],
            "no device has this serial",
        ),
        (
            vec![
                "--serial",
                "LV-0100",
                "--format",
                "csv",
                "--from",
                "2026-01-02T00:00:00Z",
                "--to",
                "2026-01-01T00:00:00Z",
            ],
            "from must be before to",
        ),
        (
            vec!["--serial", "LV-0100", "--format", "csv", "--from", "yesterday", "--to", "2026-01-01T00:00:00Z"],
            "RFC 3339",
        ),
        (
            vec![
                "--serial",
                "LV-0100",
                "--format",
                "pdf",
                "--channel",
                "7",
                "--from",
                "2026-01-01T00:00:00Z",
                "--to",
                "2026-01-02T00:00:00Z",
            ],
            "no channel 7",
        ),
    ] {
        let line = error_line(&run(instance.command().arg("export").args(&args).args(["--output", bad_arg])));
        assert!(line.contains(expected), "expected {expected:?} in {line:?}");
        assert!(!bad.exists());
    }
    let leftovers: Vec<_> = std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!leftovers.iter().any(|name| name.to_string_lossy().ends_with(".partial")), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn export_writes_signed_files_the_server_s_key_verifies_on_sqlite() {
    export_then_verify(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn export_writes_signed_files_the_server_s_key_verifies_on_postgres() {
    export_then_verify(true).await;
}
