//! Technical logging with `tracing`: human-readable by default, JSON on request.
//!
//! Redaction rule: log lines name routes (`/api/v1/devices/{serial}`), never raw paths or query strings; client
//! addresses appear only as a /24 (or /48) prefix with a keyed hash; secrets, tokens, passwords and email addresses
//! are never passed to a log macro. SQL statement logging is off (the SQLCipher key is set by a statement).

use std::io::Write;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Installs the global subscriber writing to stderr (`RUST_LOG` overrides `filter`), and a panic hook that logs
/// through it.
pub fn init(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    init_with_writer(format, filter, std::io::stderr)?;
    install_panic_hook();
    Ok(())
}

/// Routes panics through `tracing`, with their location only: the panic message can carry request data, and the
/// default hook would write it raw to stderr, outside the log format and the redaction rule.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        tracing::error!(%location, "panic (message withheld from the log)");
    }));
}

/// Installs the global subscriber writing to `make_writer` (tests write to a file).
pub fn init_with_writer<W>(format: LogFormat, filter: &str, make_writer: W) -> anyhow::Result<()>
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.is_empty() => EnvFilter::try_new(from_env)?,
        _ => EnvFilter::try_new(filter)?,
    };
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Human => {
            registry.with(tracing_subscriber::fmt::layer().with_writer(make_writer).with_target(true)).try_init()?
        }
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true).with_writer(make_writer))
            .try_init()?,
    }
    Ok(())
}

/// Prints the plain-HTTP warning banner to stderr, beside the log line, so nobody misses it.
pub fn warn_insecure_http(addr: std::net::SocketAddr) {
    tracing::warn!(%addr, "serving PLAIN HTTP without TLS (--insecure-http); only run this behind a TLS-terminating proxy");
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(
        stderr,
        "\n  WARNING: Logvault is serving PLAIN HTTP on {addr} (--insecure-http).\n  \
         Passwords, session cookies and measurement data cross the network unencrypted.\n  \
         Only do this behind a reverse proxy that terminates TLS.\n"
    );
}
