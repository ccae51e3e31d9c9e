//! Probes over HTTPS, and a restart that keeps the certificate and the database.

use logvault_core::OrgName;
use logvault_store::Engine;

use crate::both_engines;
use crate::helpers::TestApp;

both_engines!(healthz_answers_ok_over_https_with_the_self_signed_certificate, async |app: &TestApp| {
    assert!(app.url.starts_with("https://127.0.0.1:"));
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
});

both_engines!(readyz_reports_ready_when_the_database_is_reachable_and_migrated, async |app: &TestApp| {
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ready");
});

both_engines!(readyz_is_a_503_problem_once_the_database_is_gone, async |app: &TestApp| {
    app.server().store.close().await;
    let body = crate::helpers::assert_problem(app.get("/readyz").await, 503, "not-ready").await;
    assert!(body.get("detail").is_none(), "a 5xx body carries no internal detail: {body}");
    // Liveness is independent of the database.
    assert_eq!(app.get("/healthz").await.status(), 200);
});

async fn a_restart_keeps_the_certificate_and_the_database(engine: Engine) {
    let Some(mut app) = TestApp::spawn(engine).await else { return };
    let first_pem = app.server().certificate_pem.clone().unwrap();
    let org = OrgName::parse("Restart Survivors").unwrap();
    app.server().store.create_organisation(&org).await.unwrap();

    app.restart().await;

    assert_eq!(app.server().certificate_pem.as_deref(), Some(first_pem.as_str()), "certificate changed");
    assert_eq!(app.server().store.organisation_by_name(&org).await.unwrap().name, org);
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_certificate_and_the_sqlite_database() {
    a_restart_keeps_the_certificate_and_the_database(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_certificate_and_the_postgres_database() {
    a_restart_keeps_the_certificate_and_the_database(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_written_through_the_api_is_not_in_the_sqlite_file_in_plaintext() {
    use crate::helpers::{CANARY_EMAIL, CANARY_PASSWORD};
    let mut app = TestApp::spawn(Engine::Sqlite).await.unwrap();
    let store = &app.server().store;
    let org = store.create_organisation(&OrgName::parse("Canary Org 3b9f").unwrap()).await.unwrap();
    let hash = logvault_core::password::hash_password(CANARY_PASSWORD).unwrap();
    let email = logvault_core::Email::parse(CANARY_EMAIL).unwrap();
    let user = store.create_user(&email, "Canary Person", Some(hash.as_str()), 1).await.unwrap();
    store
        .add_member(&logvault_store::OrgScope::for_operator(org.id), user.id, logvault_core::authz::Role::Owner, 1)
        .await
        .unwrap();
    let response = app
        .client
        .post(format!("{}/api/v1/auth/login", app.url))
        .json(&serde_json::json!({"email": CANARY_EMAIL, "password": CANARY_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    // Stop the server so the WAL is checkpointed into the main file, then read every file of the data directory.
    app.server.take().unwrap().shutdown().await.unwrap();
    let dir = app.config.data_dir.clone();
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    assert!(files.iter().any(|p| p.ends_with("logvault.db")));
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        if path.ends_with("logvault.db") {
            assert!(!bytes.starts_with(b"SQLite format 3"), "plain SQLite header");
        }
        for canary in [CANARY_EMAIL, "Canary Org 3b9f", "Canary Person", "auth.sign_in", token.as_str()] {
            assert!(!bytes.windows(canary.len()).any(|w| w == canary.as_bytes()), "{canary} in {}", path.display());
        }
    }
    app.restart().await;
}
