//! The redaction rule, checked on a real process at the most verbose log level: canary secrets sent in paths,
//! query strings, headers and bodies never reach the technical log.

use crate::support::{ServerProcess, client_trusting, logvault};

const CANARY_EMAIL: &str = "canary.7e1f@example.test";
const CANARY_PASSWORD: &str = "Canary-Passw0rd-9d2c-horse";
const CANARY_TOKEN: &str = "lv_canary_5b8e0c1d2e3f4a5b6c7d8e9f";

#[tokio::test]
async fn no_canary_email_token_password_client_ip_or_key_appears_in_trace_level_logs() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["json", "human"] {
        let mut command = logvault();
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", format, "--data-dir"])
            .arg(dir.path())
            .env("RUST_LOG", "trace")
            .env("LOGVAULT_METRICS__TOKEN", CANARY_TOKEN);
        let server = ServerProcess::start(command);
        let client = client_trusting(dir.path());
        let url = &server.url;
        let requests = [
            client.get(format!("{url}/users/{CANARY_EMAIL}?password={CANARY_PASSWORD}&token={CANARY_TOKEN}")),
            client.get(format!("{url}/healthz?email={CANARY_EMAIL}")),
            client.get(format!("{url}/metrics")).bearer_auth(CANARY_PASSWORD),
            client.get(format!("{url}/metrics")).bearer_auth(CANARY_TOKEN),
            client.get(format!("{url}/healthz")).header("cookie", format!("session={CANARY_TOKEN}")),
            client
                .post(format!("{url}/api/v1/csp-reports"))
                .header("content-type", "application/csp-report")
                .body(format!(
                    r#"{{"csp-report": {{"document-uri": "https://x/?e={CANARY_EMAIL}&p={CANARY_PASSWORD}", "effective-directive": "img-src"}}}}"#
                )),
            client
                .post(format!("{url}/api/v1/csp-reports"))
                .header("content-type", "application/csp-report")
                .body(format!(r#"{{"broken": "{CANARY_PASSWORD}"#)),
        ];
        for request in requests {
            request.send().await.unwrap();
        }
        let output = server.stop();
        assert!(output.contains("request"), "no request was logged at all:\n{output}");
        let master_key = std::fs::read_to_string(dir.path().join("master.key")).unwrap();
        for (what, canary) in [
            ("email", CANARY_EMAIL),
            ("password", CANARY_PASSWORD),
            ("token", CANARY_TOKEN),
            ("client ip", "127.0.0.1\""),
            ("client ip", "client=127.0.0.1 "),
            ("master key", master_key.trim()),
        ] {
            assert!(!output.contains(canary), "the {what} canary appears in the {format} logs:\n{output}");
        }
    }
}
