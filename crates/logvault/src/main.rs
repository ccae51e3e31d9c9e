//! The `logvault` command line: a thin shell over the server and store crates.
//!
//! Every command that touches data takes `--data-dir`, `--database-url` (or `LOGVAULT_DATA_DIR`,
//! `LOGVAULT_DATABASE_URL`, `LOGVAULT_MASTER_KEY_FILE`), so admin commands work beside a running server. Errors end
//! the process with a non-zero exit and one line on stderr.

mod admin;
mod exports;
mod sim;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use logvault_server::bootstrap::{self, Migrations};
use logvault_server::config::{self, Config, LogFormat, LogOverrides, Overrides};

/// Logvault: tamper-evident storage for temperature and humidity data loggers.
#[derive(Debug, Parser)]
#[command(name = "logvault", version, about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Flags every data-touching command honours.
#[derive(Debug, clap::Args)]
struct GlobalArgs {
    /// Configuration file [default: ./logvault.toml if it exists]
    #[arg(long, global = true, env = "LOGVAULT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (SQLite database, master key, certificate) [env: LOGVAULT_DATA_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL instead of the embedded SQLite database; prefer LOGVAULT_DATABASE_URL for URLs with a
    /// password (command lines are visible to other local users)
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Log format
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormatArg>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (HTTPS on 127.0.0.1:8443 by default)
    Serve {
        /// Address to listen on; port 0 picks a free port
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Serve plain HTTP; only behind a TLS-terminating reverse proxy
        #[arg(long)]
        insecure_http: bool,
    },
    /// Apply pending database migrations (or show their status)
    Migrate {
        /// Only show which migrations are applied and pending
        #[arg(long)]
        status: bool,
    },
    /// Show the effective configuration or print a commented template
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage users from the command line (for scripting and first set-up)
    User {
        #[command(subcommand)]
        command: admin::UserCommand,
    },
    /// First set-up: create the first organisation and its owner, and print a one-time setup link
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Register data loggers
    Device {
        #[command(subcommand)]
        command: admin::DeviceCommand,
    },
    /// Tokens for manufacturers to upload the loggers they build
    Manufacturer {
        #[command(subcommand)]
        command: admin::ManufacturerCommand,
    },
    /// Create API tokens for scripts and integrations
    Token {
        #[command(subcommand)]
        command: admin::TokenCommand,
    },
    /// Re-verify every kept block (MAC under the device key, hash chain) and every measurement against its block;
    /// fails naming the first broken one
    Verify,
    /// Check an exported CSV, XLSX or PDF offline: its signature, the signing key, and that not a single value, row
    /// or timestamp changed
    VerifyExport {
        /// The exported file
        file: PathBuf,
        /// The server's public signing key (from GET /api/v1/signing-key); without it only the key inside the file
        /// vouches for it
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
    },
    /// Export a period of a device's measurements as a signed CSV, XLSX or PDF, as the API would (audited)
    Export {
        /// The device's serial
        #[arg(long)]
        serial: String,
        #[arg(long, value_enum)]
        format: exports::ExportFormat,
        /// Start of the period (RFC 3339 or Unix seconds)
        #[arg(long)]
        from: String,
        /// End of the period, exclusive (RFC 3339 or Unix seconds)
        #[arg(long)]
        to: String,
        /// Only this channel [default: every channel]
        #[arg(long)]
        channel: Option<i32>,
        /// Where to write ("-" for standard output) [default: SERIAL_FROM_TO.FORMAT in the current directory]; an
        /// existing file is never overwritten
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Show or set an organisation's retention, or purge what is past it now
    Retention {
        #[command(subcommand)]
        command: admin::RetentionCommand,
    },
    /// Inspect the tamper-evident audit log
    Audit {
        #[command(subcommand)]
        command: admin::AuditCommand,
    },
    /// Simulate a data logger: make a QR link for a synthetic series, or decode one
    Sim {
        #[command(subcommand)]
        command: sim::SimCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (defaults, file, environment, flags) with secrets redacted
    Show,
    /// Print a commented example logvault.toml
    Template,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Human,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli { global, command } = cli;
    match command {
        Command::Sim { command } => sim::run(command),
        Command::Config { command: ConfigCommand::Template } => {
            print!("{}", config::template());
            Ok(())
        }
        Command::Config { command: ConfigCommand::Show } => {
            print!("{}", load_config(&global, Overrides::default())?.to_redacted_toml()?);
            Ok(())
        }
        Command::Serve { listen, insecure_http } => {
            let overrides = Overrides { listen, insecure_http: insecure_http.then_some(true), ..Overrides::default() };
            let config = load_config(&global, overrides)?;
            block_on(serve(config))
        }
        Command::Migrate { status } => {
            let config = load_config(&global, Overrides::default())?;
            block_on(migrate(config, status))
        }
        Command::User { command } => {
            let config = load_config(&global, Overrides::default())?;
            block_on(admin::user(config, command))
        }
        Command::Admin { command } => {
            let config = load_config(&global, Overrides::default())?;
            block_on(admin::admin(config, command))
        }
        Command::Device { command } => {
            let config = load_config(&global, Overrides::default())?;
            block_on(admin::device(config, command))
        }
        Command::Manufacturer { command } => {
            let config = load_config(&global, Overrides::default())?;
            block_on(admin::manufacturer(config, command))
        }
        Command::Token { command } => {
            let config = load_config(&global, Overrides::default())?;
            block_on(admin::token(config, command))
        }
        Command::Verify => {
            let config = load_config(&global, Overrides::default())?;
            block_on(admin::verify(config))
        }
        Command::VerifyExport { file, public_key } => exports::verify_export(&file, public_key.as_deref()),
        Command::Audit { command } => {
            let config = load_config(&global, Overrides::default())?;
            block_on(admin::audit(config, command))
        }
        Command::Export { serial, format, from, to, channel, output } => {
            let config = load_config(&global, Overrides::default())?;
            block_on(exports::export(config, exports::ExportArgs { serial, format, from, to, channel, output }))
        }
        Command::Retention { command } => {
            let config = load_config(&global, Overrides::default())?;
            block_on(admin::retention(config, command))
        }
    }
}

fn block_on(future: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    // Two TLS providers can end up linked (sqlx, reqwest); pick one explicitly so rustls never has to guess.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(future)
}

/// Layers the configuration; `overrides` carries the command's own flags, the global flags are added here.
fn load_config(global: &GlobalArgs, overrides: Overrides) -> anyhow::Result<Config> {
    let file = match &global.config {
        Some(path) => {
            anyhow::ensure!(path.is_file(), "configuration file {} does not exist", path.display());
            Some(path.clone())
        }
        None => Some(PathBuf::from("logvault.toml")).filter(|p| p.is_file()),
    };
    let overrides = Overrides {
        data_dir: global.data_dir.clone(),
        database_url: global.database_url.clone(),
        log: global.log_format.map(|format| LogOverrides {
            format: Some(match format {
                LogFormatArg::Human => LogFormat::Human,
                LogFormatArg::Json => LogFormat::Json,
            }),
        }),
        ..overrides
    };
    Ok(Config::load(file.as_deref(), &overrides)?)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    logvault_server::telemetry::init(config.log.format, &config.log.filter)?;
    // Registered before the server announces itself, so a signal sent right after "listening on" is handled.
    let shutdown = shutdown_signal()?;
    let server = logvault_server::start(&config).await?;
    // The one line scripts and tests wait for; stdout, unlike the logs.
    println!("listening on {}", server.url());
    if let Some(addr) = server.metrics_addr {
        println!("metrics on http://{addr}/metrics");
    }
    if let Some(link) = &server.setup_link {
        println!(
            "no account yet: open this link within {} hours to set up the first organisation (single use):",
            logvault_server::app::invitations::FIRST_RUN_HOURS
        );
        println!("{}", secrecy::ExposeSecret::expose_secret(link));
    }
    server.run_until(shutdown).await
}

async fn migrate(config: Config, status_only: bool) -> anyhow::Result<()> {
    logvault_server::telemetry::init(config.log.format, &config.log.filter)?;
    let opened = bootstrap::open(&config, Migrations::Leave).await?;
    let status = opened.store.migration_status().await?;
    if status_only {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        let applied = opened.migrate().await?;
        if applied.is_empty() {
            println!("database is up to date ({} migrations)", status.applied.len());
        } else {
            println!("applied migrations {applied:?}");
        }
    }
    opened.store.close().await;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C). The handlers are registered when this is called, not when it is first
/// awaited.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("could not listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("could not listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
