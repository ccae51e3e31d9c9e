//! Starting and stopping a server instance: the same code path for `logvault serve` and for tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use logvault_store::Store;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use crate::bootstrap::{self, Migrations};
use crate::config::Config;
use crate::http;
use crate::http::metrics::Metrics;
use crate::state::AppState;

/// A started server. Drop does not stop it; call [`RunningServer::shutdown`].
#[derive(Debug)]
pub struct RunningServer {
    /// The address actually bound (port 0 resolved).
    pub local_addr: SocketAddr,
    /// Whether the main listener speaks TLS.
    pub tls: bool,
    /// PEM of the served certificate, for clients that must trust a self-signed one.
    pub certificate_pem: Option<String>,
    /// The loopback metrics listener, when configured.
    pub metrics_addr: Option<SocketAddr>,
    /// The first-run link (`/setup#…`) when the instance had no account at start: whoever opens it first sets up
    /// the first organisation. A secret: print it for the operator, never log it.
    pub setup_link: Option<secrecy::SecretString>,
    pub store: Arc<dyn Store>,
    handle: Handle<SocketAddr>,
    serve_task: JoinHandle<std::io::Result<()>>,
    metrics_task: Option<JoinHandle<std::io::Result<()>>>,
    /// The hourly retention purge.
    purge_task: JoinHandle<()>,
}

/// Opens the store (migrating it), binds the listeners and starts serving in the background.
pub async fn start(config: &Config) -> anyhow::Result<RunningServer> {
    // Migrations come last: a start that fails to bind or to load its certificate leaves the schema untouched, so
    // the previous binary can still run.
    let opened = bootstrap::open(config, Migrations::Leave).await?;
    let mailer = crate::mail::Mailer::from_config(&config.smtp).context("could not set up outgoing email")?;
    let password_verify_us = calibrate_password_verification().await?;

    let listener =
        std::net::TcpListener::bind(config.listen).with_context(|| format!("could not listen on {}", config.listen))?;
    listener.set_nonblocking(true).context("could not make the listener non-blocking")?;
    let local_addr = listener.local_addr().context("could not read the bound address")?;

    let tls = match config.insecure_http {
        true => None,
        false => Some(crate::tls::server_config(config, &opened.master_key)?),
    };
    // Bound and certified: only now may the schema move forward.
    opened.migrate().await?;
    announce_guards(opened.store.as_ref()).await?;
    // An empty instance gets a one-time link to its first-run page.
    let (first_run, setup_link) = if opened.store.count_users().await? == 0 {
        let (first_run, secret) = crate::app::invitations::FirstRun::issue()?;
        // The configured public URL, else the address actually bound (the port may have been 0).
        let base = match &config.public_url {
            Some(_) => config.public_base_url(),
            None if config.insecure_http => format!("http://localhost:{}", local_addr.port()),
            None => format!("https://localhost:{}", local_addr.port()),
        };
        (first_run, Some(format!("{base}/setup#{}", secret.expose()).into()))
    } else {
        (crate::app::invitations::FirstRun::default(), None)
    };
    // The signing key lives in the database: it is read (or made) once the schema has its table.
    let state = AppState {
        store: Arc::clone(&opened.store),
        metrics: Arc::new(Metrics::new()),
        metrics_token_digest: config
            .metrics
            .token
            .as_ref()
            .map(|t| Sha256::digest(t.expose_secret().as_bytes()).into()),
        ip_log_salt: Arc::new(opened.master_key.derive(bootstrap::IP_LOG_SALT_PURPOSE)),
        csrf_key: Arc::new(opened.master_key.derive(bootstrap::CSRF_KEY_PURPOSE)),
        totp_key: Arc::new(opened.master_key.derive(bootstrap::TOTP_KEY_PURPOSE)),
        recovery_key: Arc::new(opened.master_key.derive(bootstrap::RECOVERY_KEY_PURPOSE)),
        otp_key: Arc::new(opened.master_key.derive(bootstrap::OTP_KEY_PURPOSE)),
        manufacturing_key: Arc::new(opened.master_key.derive(logvault_core::custody::MANUFACTURING_PURPOSE)),
        data_key_wrap: Arc::new(opened.master_key.derive(logvault_core::custody::DATA_KEY_WRAP_PURPOSE)),
        mailer,
        public_url: Arc::from(config.public_base_url()),
        trusted_proxies: Arc::new(config.http.trusted_proxies.clone()),
        password_verify_us,
        signing_keys: Arc::new(crate::signing::load_or_create(opened.store.as_ref(), &opened.master_key).await?),
        argon2_permits: Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get).max(2),
        )),
        first_run: Arc::new(first_run),
    };

    let app = http::router(state.clone(), config).into_make_service_with_connect_info::<SocketAddr>();
    let handle = Handle::new();
    let (serve_task, certificate_pem) = match tls {
        None => {
            crate::telemetry::warn_insecure_http(local_addr);
            let mut server = axum_server::from_tcp(listener)
                .context("could not serve on the listener")?
                .handle(handle.clone())
                .acceptor(http::protocol_errors::Acceptor(axum_server::accept::DefaultAcceptor));
            harden(server.http_builder(), config);
            (tokio::spawn(server.serve(app)), None)
        }
        Some((tls_config, pem)) => {
            let mut server = axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(tls_config))
                .context("could not serve on the listener")?
                .handle(handle.clone())
                .map(http::protocol_errors::Acceptor);
            harden(server.http_builder(), config);
            (tokio::spawn(server.serve(app)), Some(pem))
        }
    };

    let (metrics_addr, metrics_task) = match config.metrics.listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("could not listen for metrics on {addr}"))?;
            let bound = listener.local_addr().context("could not read the metrics address")?;
            let app = http::metrics_only_router(state.clone());
            let task = tokio::spawn(async move { axum::serve(listener, app).await });
            (Some(bound), Some(task))
        }
        None => (None, None),
    };

    let purge_task = crate::app::retention::spawn_purge_job(Arc::clone(&opened.store));

    tracing::info!(%local_addr, tls = !config.insecure_http, "server started");
    Ok(RunningServer {
        local_addr,
        tls: !config.insecure_http,
        certificate_pem,
        metrics_addr,
        setup_link,
        store: opened.store,
        handle,
        serve_task,
        metrics_task,
        purge_task,
    })
}

/// Measures one password verification, for the delay that stands in for it on a locked account.
async fn calibrate_password_verification() -> anyhow::Result<u64> {
    let micros = tokio::task::spawn_blocking(|| {
        let started = std::time::Instant::now();
        logvault_core::password::verify_against_dummy("calibration of the verification time");
        started.elapsed().as_micros()
    })
    .await
    .context("could not measure the password verification time")?;
    Ok(u64::try_from(micros).unwrap_or(u64::MAX))
}

/// Connection-level limits: a client must finish its request headers in time (no slowloris), idle HTTP/2
/// connections are pinged and dropped when they stop answering, and one connection cannot open unbounded streams.
/// HTTP/2's header list limit sits above the application's own (`protocol_errors`), so the application answers.
fn harden(builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>, config: &Config) {
    let header_timeout = Duration::from_secs(config.http.header_read_timeout_secs);
    builder.http1().header_read_timeout(header_timeout);
    builder
        .http2()
        .max_header_list_size(http::protocol_errors::HTTP2_MAX_HEADER_LIST_BYTES)
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .max_concurrent_streams(100);
}

impl RunningServer {
    /// The base URL, e.g. `https://127.0.0.1:8443`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// Waits until the server stops on its own (an accept loop error) or until `shutdown_signal` completes, then
    /// drains connections for up to ten seconds and closes the store.
    pub async fn run_until(mut self, shutdown_signal: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        tokio::select! {
            result = &mut self.serve_task => {
                self.purge_task.abort();
                self.store.close().await;
                return result.context("the server task failed")?.context("the server stopped with an error");
            }
            () = shutdown_signal => {}
        }
        self.shutdown().await
    }

    /// Stops accepting, lets in-flight requests finish (up to ten seconds), and closes the store.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        tracing::info!("shutting down");
        self.handle.graceful_shutdown(Some(Duration::from_secs(10)));
        if let Some(task) = self.metrics_task {
            task.abort();
        }
        // A purge in flight is one transaction per device: aborting it between them leaves nothing half done.
        self.purge_task.abort();
        let result = self.serve_task.await;
        self.store.close().await;
        result.context("the server task failed")?.context("the server stopped with an error")
    }
}

/// Says once at start what the database holds against changing kept data; warns when PostgreSQL runs without the
/// restricted role (the login role could not create or assume it), so an operator can grant it.
async fn announce_guards(store: &dyn logvault_store::Store) -> anyhow::Result<()> {
    match store.guards().await.context("could not read the database guards")? {
        logvault_store::Guards::OwnerWithTriggers => tracing::warn!(
            guards = "owner-with-triggers",
            "PostgreSQL: running as the tables' owner, guarded by triggers only: the login role could not create \
             or assume the restricted role logvault_app (give the login role CREATEROLE, or create logvault_app \
             NOLOGIN and GRANT it to the login role, then restart)"
        ),
        guards => tracing::info!(?guards, "database guards"),
    }
    Ok(())
}
