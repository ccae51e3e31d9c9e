//! `TestApp`: the real server, in-process, on a fresh database, with a client that trusts its certificate.

use std::sync::{Mutex, Once};

use logvault_server::RunningServer;
use logvault_server::config::{Config, LogFormat};
use logvault_store::Engine;
use logvault_store::testing::PgTestDb;
use secrecy::SecretString;

/// Canary values used in requests; CI greps every test log for them and fails if one appears.
pub const CANARY_EMAIL: &str = "canary.7e1f@example.test";
pub const CANARY_PASSWORD: &str = "Canary-Passw0rd-9d2c-horse";
pub const CANARY_TOKEN: &str = "lv_canary_5b8e0c1d2e3f4a5b6c7d8e9f";

#[allow(dead_code, reason = "fields for tests that inspect the engine or the data directory")]
pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub engine: Engine,
    pub config: Config,
    pub server: Option<RunningServer>,
    pub data_dir: tempfile::TempDir,
    /// The SMTP server every test app sends its email to.
    pub mail: crate::smtp_sink::SmtpSink,
    _postgres: Option<PgTestDb>,
}

/// Everything this test process has logged so far.
pub fn read_test_logs() -> String {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("test-logs")
        .join(format!("server-it-{}.log", std::process::id()));
    std::fs::read_to_string(path).expect("the test log")
}

/// Writes this test binary's logs (debug level, JSON) to `target/tmp/test-logs/`, once per process.
pub fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-logs");
        std::fs::create_dir_all(&dir).expect("create test log dir");
        let file = std::fs::File::create(dir.join(format!("server-it-{}.log", std::process::id())))
            .expect("create test log file");
        logvault_server::telemetry::init_with_writer(LogFormat::Json, "debug", Mutex::new(file))
            .expect("install test logger");
    });
}

impl TestApp {
    /// A server on `engine` with default settings, or `None` when the PostgreSQL half is skipped outside CI.
    pub async fn spawn(engine: Engine) -> Option<TestApp> {
        TestApp::spawn_with(engine, |_| {}).await
    }

    /// A server on `engine` after `adjust` changed its configuration.
    pub async fn spawn_with(engine: Engine, adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
        init_logging();
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let data_dir = tempfile::tempdir().expect("temp dir");
        let postgres = match engine {
            Engine::Sqlite => None,
            Engine::Postgres => Some(PgTestDb::create().await?),
        };
        let mail = crate::smtp_sink::SmtpSink::start().await;
        let mut config = Config {
            data_dir: data_dir.path().join("data"),
            listen: "127.0.0.1:0".parse().expect("addr"),
            database_url: postgres
                .as_ref()
                .map(|db| SecretString::from(logvault_store::testing::expose(db.url()).to_owned())),
            ..Config::default()
        };
        config.smtp.host = Some("127.0.0.1".to_owned());
        config.smtp.port = mail.port();
        config.smtp.security = logvault_server::config::SmtpSecurity::None;
        config.public_url = Some("https://logvault.example.test".to_owned());
        adjust(&mut config);
        let server = logvault_server::start(&config).await.expect("server starts");
        let url = server.url();
        let client = client_for(&server);
        Some(TestApp { url, client, engine, config, server: Some(server), data_dir, mail, _postgres: postgres })
    }

    /// Stops the server and starts it again on the same configuration (data directory, database, port 0).
    pub async fn restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
        let server = logvault_server::start(&self.config).await.expect("server restarts");
        self.url = server.url();
        self.client = client_for(&server);
        self.server = Some(server);
    }

    pub fn server(&self) -> &RunningServer {
        self.server.as_ref().expect("server running")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.url)).send().await.expect("request succeeds")
    }

    pub async fn post(&self, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request succeeds")
    }
}

/// Stops the server and closes its store before the test ends. Leaving SQLite connections to be finalised on
/// sqlx's worker threads while the process exits races SQLCipher against OpenSSL's exit-time cleanup (a SIGSEGV
/// after all tests have passed).
impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async {
                    let _ = server.shutdown().await;
                });
            });
        }
    }
}

/// A client that trusts exactly the server's certificate (or plain HTTP).
pub fn client_for(server: &RunningServer) -> reqwest::Client {
    // The server closes a keep-alive connection idle for its header-read timeout (10 s); a client must not reuse
    // one that old, or its request can race the close (as browsers and proxies also avoid).
    let mut builder = reqwest::Client::builder().pool_idle_timeout(std::time::Duration::from_secs(5));
    if let Some(pem) = &server.certificate_pem {
        let cert = reqwest::Certificate::from_pem(pem.as_bytes()).expect("server certificate parses");
        builder = builder.tls_certs_only([cert]);
    }
    builder.build().expect("client builds")
}

/// Asserts a problem+json response with `status` and type `/problems/{slug}`; returns the body.
pub async fn assert_problem(response: reqwest::Response, status: u16, slug: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
    assert_eq!(content_type, "application/problem+json");
    let header_id = response.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    let body: serde_json::Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["type"], format!("/problems/{slug}"), "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(body["title"].is_string(), "{body}");
    assert_eq!(body["request_id"], header_id, "{body}");
    body
}

/// Runs an `async |app: &TestApp| { … }` test on both engines (PostgreSQL only when configured; required under
/// CI), as `NAME::sqlite` and `NAME::postgres`.
#[macro_export]
macro_rules! both_engines {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::helpers::TestApp::spawn(logvault_store::Engine::Sqlite).await.expect("sqlite runs");
                ($body)(&app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::helpers::TestApp::spawn(logvault_store::Engine::Postgres).await {
                    ($body)(&app).await;
                }
            }
        }
    };
}

/// A long passphrase that passes the password policy.
pub const PASSWORD: &str = "correct horse battery staple on a cold morning";

/// Creates (or reuses) the organisation and a member with [`PASSWORD`]; returns (org id, user id).
pub async fn member(app: &TestApp, org: &str, email: &str, role: logvault_core::authz::Role) -> (i64, i64) {
    use logvault_core::{Email, OrgName, password};
    let store = &app.server().store;
    let org = match store.organisation_by_name(&OrgName::parse(org).unwrap()).await {
        Ok(org) => org,
        Err(_) => store.create_organisation(&OrgName::parse(org).unwrap()).await.unwrap(),
    };
    let hash = password::hash_password(PASSWORD).unwrap();
    let user = store.create_user(&Email::parse(email).unwrap(), "Test User", Some(hash.as_str()), 1).await.unwrap();
    store.add_member(&logvault_store::OrgScope::for_operator(org.id), user.id, role, 1).await.unwrap();
    (org.id, user.id)
}

/// Signs in with [`PASSWORD`] (no second factor) and returns the session as a caller.
pub async fn sign_in(app: &TestApp, email: &str) -> Caller {
    let response = login(app, email, PASSWORD).await;
    assert_eq!(response.status(), 200);
    Caller::from_sign_in(response).await
}

/// `POST /api/v1/auth/login` with `email` and `password`.
pub async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/api/v1/auth/login", app.url))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

/// Whoever makes a request: nobody, a browser session (cookie and CSRF token), or an API token.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
}

impl Caller {
    pub fn anonymous() -> Caller {
        Caller::default()
    }

    pub fn bearer(token: &str) -> Caller {
        Caller { bearer: Some(token.to_owned()), ..Caller::default() }
    }

    /// The session a successful sign-in (or second-factor) response carries.
    pub async fn from_sign_in(response: reqwest::Response) -> Caller {
        assert_eq!(response.status(), 200);
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .find(|v| v.starts_with("__Host-logvault_session="))
            .expect("a session cookie")
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let body: serde_json::Value = response.json().await.unwrap();
        Caller { cookie: Some(cookie), csrf: body["csrf_token"].as_str().map(str::to_owned), bearer: None }
    }

    pub async fn send(
        &self,
        app: &TestApp,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = app.client.request(method, format!("{}{path}", app.url));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(csrf) = &self.csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn get(&self, app: &TestApp, path: &str) -> reqwest::Response {
        self.send(app, reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, app: &TestApp, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.send(app, reqwest::Method::POST, path, Some(body)).await
    }
}

impl Caller {
    /// The pending session (second factor owed) a first-factor response carries.
    pub async fn from_sign_in_pending(response: reqwest::Response) -> Caller {
        if response.status() != 200 {
            panic!("expected a pending session, got {} {}", response.status(), response.text().await.unwrap());
        }
        let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["mfa_required"], true, "{body}");
        Caller { cookie: Some(cookie), csrf: body["csrf_token"].as_str().map(str::to_owned), bearer: None }
    }
}
