//! First set-up and access from the command line, against a running server: `logvault admin bootstrap` and its
//! one-time setup link, `logvault token create`, and `logvault user disable` / `enable` — on both engines.

use serde_json::{Value, json};

use crate::support::{Instance, ServerProcess, client_trusting, error_line, run};

const PASSWORD: &str = "a long and unusual passphrase for the access tests";

fn stdout_line(output: &std::process::Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(stdout.lines().count(), 1, "exactly one line on standard output: {stdout:?}");
    stdout.trim().to_owned()
}

async fn sign_in_status(client: &reqwest::Client, url: &str, email: &str) -> u16 {
    let response = client
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

async fn bootstrap_token_and_disable(postgres: bool) {
    let Some(instance) = Instance::new(postgres).await else { return };
    let link = stdout_line(&run(instance.command().args([
        "admin",
        "bootstrap",
        "--org",
        "Acme Cold Chain",
        "--email",
        "ana@example.test",
        "--name",
        "Ana",
    ])));
    assert!(link.starts_with("https://localhost:8443/invite#"), "{link}");
    let line =
        error_line(&run(instance.command().args(["admin", "bootstrap", "--org", "Other", "--email", "x@y.test"])));
    assert!(line.contains("already set up"), "{line}");

    let mut serve = instance.command();
    serve.args(["serve", "--listen", "127.0.0.1:0"]);
    let server = ServerProcess::start(serve);
    let client = client_trusting(instance.dir.path());
    let url = server.url.clone();

    // No password yet: nobody can sign in until the link is used, and the link works once.
    assert_eq!(sign_in_status(&client, &url, "ana@example.test").await, 401);
    let token = link.split_once('#').unwrap().1;
    let accept = |body: Value| client.post(format!("{url}/api/v1/invitations/accept")).json(&body).send();
    let accepted = accept(json!({"token": token, "password": PASSWORD})).await.unwrap();
    assert_eq!(accepted.status(), 200);
    let accepted: Value = accepted.json().await.unwrap();
    assert_eq!((accepted["role"].as_str(), accepted["created_account"].as_bool()), (Some("owner"), Some(false)));
    let org_id = accepted["org_id"].as_i64().unwrap();
    assert_eq!(accept(json!({"token": token, "password": "another long passphrase, eh"})).await.unwrap().status(), 422);
    assert_eq!(sign_in_status(&client, &url, "ana@example.test").await, 200);

    // An API token, printed once on standard output, works as a Bearer credential for its organisation.
    let secret = stdout_line(&run(instance.command().args([
        "token",
        "create",
        "--org",
        "Acme Cold Chain",
        "--email",
        "ana@example.test",
        "--name",
        "nightly export",
        "--role",
        "viewer",
        "--expires",
        "30",
    ])));
    assert!(secret.starts_with("lv_"), "{secret}");
    let org = |bearer: String| client.get(format!("{url}/api/v1/orgs/{org_id}")).bearer_auth(bearer).send();
    let response = org(secret.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["role"], "viewer", "a token acts with its own role");

    // A token may not do more than its member, and mistakes are one clear line.
    let output =
        run(instance.command().args(["user", "create", "--org", "Acme Cold Chain", "--email", "bo@example.test"]));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let args = ["token", "create", "--org", "Acme Cold Chain", "--email", "bo@example.test", "--name", "x"];
    let line = error_line(&run(instance.command().args(args).args(["--role", "admin"])));
    assert!(line.contains("cannot create a token"), "{line}");
    let line = error_line(&run(instance.command().args(args).args(["--expires", "400"])));
    assert!(line.contains("365"), "{line}");
    let line = error_line(&run(instance.command().args([
        "token",
        "create",
        "--org",
        "Nope",
        "--email",
        "bo@example.test",
        "--name",
        "x",
    ])));
    assert!(line.contains("no organisation"), "{line}");

    // Disabling ends sessions and tokens at once; enabling lets the person sign in again (old tokens stay dead).
    let output = run(instance.command().args(["user", "disable", "--email", "ana@example.test"]));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(sign_in_status(&client, &url, "ana@example.test").await, 401);
    assert_eq!(org(secret.clone()).await.unwrap().status(), 401);
    let output = run(instance.command().args(["user", "enable", "--email", "ana@example.test"]));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(sign_in_status(&client, &url, "ana@example.test").await, 200);
    assert_eq!(org(secret).await.unwrap().status(), 401);
    // An operator can set a password (from standard input) and sign the person out everywhere.
    let mut child = instance
        .command()
        .args(["user", "set-password", "--email", "ana@example.test", "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(b"an operator-chosen passphrase, quite long\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(sign_in_status(&client, &url, "ana@example.test").await, 401, "the old password no longer works");
    let line = error_line(&run(instance.command().args(["user", "disable", "--email", "nobody@example.test"])));
    assert!(line.contains("no user"), "{line}");

    let output = server.stop();
    assert!(!output.contains(PASSWORD) && !output.contains(token), "a secret reached the server's output");
    let output = run(instance.command().args(["audit", "verify"]));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_then_tokens_then_disable_on_sqlite() {
    bootstrap_token_and_disable(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_then_tokens_then_disable_on_postgres() {
    bootstrap_token_and_disable(true).await;
}

async fn device_add_prints_a_key_the_simulator_can_use(postgres: bool) {
    let Some(instance) = Instance::new(postgres).await else { return };
    let output = run(instance.command().args(["user", "create", "--org", "Acme", "--email", "ana@example.test"]));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let add = ["device", "add", "--org", "Acme", "--serial", "LV-0042", "--name", "Plant room DHW"];
    let key = stdout_line(&run(instance.command().args(add)));
    assert!(key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");

    // The key seals a block that opens with the same key: it is the device's working key.
    let link = stdout_line(&run(instance.command().args([
        "sim",
        "link",
        "--serial",
        "LV-0042",
        "--key",
        &key,
        "--base-url",
        "https://lv.example.test",
    ])));
    let decoded = run(instance.command().args(["sim", "decode", "--key", &key, &link]));
    assert!(decoded.status.success(), "{}", String::from_utf8_lossy(&decoded.stderr));
    assert!(String::from_utf8_lossy(&decoded.stdout).contains("LV-0042"));

    let line = error_line(&run(instance.command().args(add)));
    assert!(line.contains("already registered"), "{line}");

    // With a logger model from a file; a broken one is one clear line.
    let model = instance.dir.path().join("model.json");
    std::fs::write(
        &model,
        r#"{"channels": [{"quantity": "temperature", "lowest": -40000, "ranges": [[100, 125000]]}],
            "memory": {"mode": "stop_when_full", "capacity": 8000}, "interval_s": 60}"#,
    )
    .unwrap();
    let with_model = ["device", "add", "--org", "Acme", "--serial", "LV-0043", "--model"];
    let key = stdout_line(&run(instance.command().args(with_model).arg(&model)));
    assert_eq!(key.len(), 32);
    std::fs::write(&model, r#"{"channels": []}"#).unwrap();
    let with_model = ["device", "add", "--org", "Acme", "--serial", "LV-0044", "--model"];
    let line = error_line(&run(instance.command().args(with_model).arg(&model)));
    assert!(line.contains("model"), "{line}");

    // A manufacturer's upload token, printed once.
    let token = stdout_line(&run(instance.command().args(["manufacturer", "token", "--name", "Line 1"])));
    assert!(token.starts_with("lvm_") && token.len() > 40, "{token}");
    let line = error_line(&run(instance.command().args(["manufacturer", "token", "--name", "x", "--expires", "0"])));
    assert!(line.contains("365"), "{line}");
    let line = error_line(&run(instance.command().args(["device", "add", "--org", "Nope", "--serial", "LV-1"])));
    assert!(line.contains("no organisation"), "{line}");
    let line = error_line(&run(instance.command().args(["device", "add", "--org", "Acme", "--serial", "bad serial"])));
    assert!(line.contains("serial"), "{line}");
    let line = error_line(&run(instance.command().args([
        "device",
        "add",
        "--org",
        "Acme",
        "--serial",
        "LV-7",
        "--site-id",
        "99",
    ])));
    assert!(line.contains("site"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn device_add_prints_a_key_the_simulator_can_use_on_sqlite() {
    device_add_prints_a_key_the_simulator_can_use(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn device_add_prints_a_key_the_simulator_can_use_on_postgres() {
    device_add_prints_a_key_the_simulator_can_use(true).await;
}
