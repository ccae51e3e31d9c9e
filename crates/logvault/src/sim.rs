//! `logvault sim`: simulated loggers for demos and tests — print a QR link for a synthetic
//! series, or decode a link back to JSON. The logic lives in `logvault_logger::cli`.

use std::io::Write as _;

use anyhow::Context as _;
use clap::Subcommand;
use logvault_logger::cli::{LinkRequest, decode_link, make_link};

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Print one QR link carrying a deterministic synthetic series.
    Link {
        /// Device serial (1-32 characters of A-Z, a-z, 0-9, '-').
        #[arg(long)]
        serial: String,
        /// The device's 128-bit key, 32 hexadecimal digits.
        #[arg(long)]
        key: String,
        /// Base URL of the Logvault server, e.g. https://logvault.example.com
        #[arg(long)]
        base_url: String,
        /// Number of samples in the block.
        #[arg(long, default_value_t = 1500)]
        samples: usize,
        /// Seconds between samples.
        #[arg(long, default_value_t = 300)]
        interval: u32,
        /// Time of the first sample, RFC 3339.
        #[arg(long, default_value = "2026-01-01T00:00:00Z")]
        start: String,
        /// Seed of the synthetic series (same seed, same series).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Comma-separated channels: temperature, humidity.
        #[arg(long, default_value = "temperature")]
        channels: String,
        /// Block counter to seal with.
        #[arg(long, default_value_t = 1)]
        counter: u64,
        /// Key generation to put in the header.
        #[arg(long, default_value_t = 0)]
        key_generation: u8,
        /// Also draw the QR code in the terminal.
        #[arg(long)]
        qr: bool,
        /// QR error-correction level: L, M, Q or H.
        #[arg(long, default_value = "M")]
        ec: String,
    },
    /// Decode a link with the device key and print the block as JSON.
    Decode {
        /// The device's 128-bit key, 32 hexadecimal digits.
        #[arg(long)]
        key: String,
        /// The link (https://host/l#...) or its bare base64url payload.
        link: String,
    },
}

pub fn run(cmd: SimCommand) -> anyhow::Result<()> {
    match cmd {
        SimCommand::Link {
            serial,
            key,
            base_url,
            samples,
            interval,
            start,
            seed,
            channels,
            counter,
            key_generation,
            qr,
            ec,
        } => {
            let request = LinkRequest {
                serial,
                key_hex: key,
                base_url,
                samples,
                interval,
                start,
                seed,
                channels,
                counter,
                key_generation,
                ec_level: ec,
                qr,
            };
            let response = make_link(&request)?;
            let mut text = response.qr.unwrap_or_default();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&response.link);
            print_line(&text)
        }
        SimCommand::Decode { key, link } => {
            let decoded = decode_link(&key, &link)?;
            let text = serde_json::to_string_pretty(&decoded).context("rendering the block as JSON")?;
            print_line(&text)
        }
    }
}

/// Writes to stdout without panicking when it is closed (e.g. piped into `head`).
fn print_line(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}").and_then(|()| stdout.flush()).context("writing to standard output")
}
