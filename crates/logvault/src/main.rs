//! The `logvault` command line: a thin shell over the server and store crates.
//!
//! Every command that touches data takes `--data-dir`, `--database-url` (or `LOGVAULT_DATA_DIR`,
//! `LOGVAULT_DATABASE_URL`, `LOGVAULT_MASTER_KEY_FILE`), so admin commands work beside a running server. Errors end
//! the process with a non-zero exit and one line on stderr.

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
    #[command(subcommand)]
    command: Command,
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
    // Two TLS providers can end up linked (sqlx, reqwest); pick one explicitly so rustls never has to guess.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async move {
        match &cli.command {
            Command::Config { command: ConfigCommand::Template } => {
                print!("{}", config::TEMPLATE);
                Ok(())
            }
            Command::Config { command: ConfigCommand::Show } => {
                let config = load_config(&cli)?;
                print!("{}", config.to_redacted_toml()?);
                Ok(())
            }
            Command::Serve { .. } => serve(load_config(&cli)?).await,
            Command::Migrate { status } => migrate(load_config(&cli)?, *status).await,
        }
    })
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let file = match &cli.config {
        Some(path) => {
            anyhow::ensure!(path.is_file(), "configuration file {} does not exist", path.display());
            Some(path.clone())
        }
        None => Some(PathBuf::from("logvault.toml")).filter(|p| p.is_file()),
    };
    let (listen, insecure_http) = match &cli.command {
        Command::Serve { listen, insecure_http } => (*listen, insecure_http.then_some(true)),
        _ => (None, None),
    };
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        listen,
        insecure_http,
        log: cli.log_format.map(|format| LogOverrides {
            format: Some(match format {
                LogFormatArg::Human => LogFormat::Human,
                LogFormatArg::Json => LogFormat::Json,
            }),
        }),
    };
    Ok(Config::load(file.as_deref(), &overrides)?)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    logvault_server::telemetry::init(config.log.format, &config.log.filter)?;
    let server = logvault_server::start(&config).await?;
    // The one line scripts and tests wait for; stdout, unlike the logs.
    println!("listening on {}", server.url());
    if let Some(addr) = server.metrics_addr {
        println!("metrics on http://{addr}/metrics");
    }
    server.run_until(shutdown_signal()).await
}

async fn migrate(config: Config, status_only: bool) -> anyhow::Result<()> {
    logvault_server::telemetry::init(config.log.format, &config.log.filter)?;
    let opened = bootstrap::open(&config, Migrations::Leave).await?;
    let status = opened.store.migration_status().await?;
    if status_only {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        anyhow::ensure!(
            status.unknown.is_empty(),
            "the database has migrations {:?} that this binary does not know; run a newer logvault",
            status.unknown
        );
        let applied = opened.store.migrate().await?;
        if applied.is_empty() {
            println!("database is up to date ({} migrations)", status.applied.len());
        } else {
            println!("applied migrations {applied:?}");
        }
    }
    opened.store.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
