//! `logvault verify-export`: checks an export offline, with nothing but the file and (ideally) the server's public
//! key; and `logvault export`, which makes one from the data directory as the API would.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use logvault_core::audit::{AuditAction, NewEntry, Outcome};
use logvault_export::{Format, KeyTrust, PublicKey, verify_export as verify};
use logvault_server::app::export::{ExportRequest, Exporter, Prepared};
use logvault_server::app::reports::Period;
use logvault_server::auth::now_us;
use logvault_server::bootstrap::{self, Migrations};
use logvault_server::config::Config;
use logvault_store::OrgScope;

/// Verifies `file`; an error names what is wrong (the caller prints it as one line and exits non-zero).
pub fn verify_export(file: &Path, public_key: Option<&str>) -> anyhow::Result<()> {
    let expected = public_key
        .map(|text| PublicKey::parse(text).context("--public-key is not an Ed25519 public key (base64url or hex)"))
        .transpose()?;
    let bytes = std::fs::read(file).with_context(|| format!("could not read {}", file.display()))?;
    let verified = verify(&bytes, expected.as_ref()).with_context(|| format!("{} does not verify", file.display()))?;
    let rows = if verified.rows_checked { "every row checked" } else { "content hash checked" };
    println!(
        "verified: {} export of {} ({}), {} – {}, {} rows ({rows}), signed by key {}",
        verified.format.as_str(),
        verified.serial,
        verified.organisation,
        verified.from,
        verified.to,
        verified.n_rows,
        verified.key_fingerprint,
    );
    for head in &verified.chain_heads {
        println!("chain head: {} block {} {}", head.serial, head.seq, head.block_hash);
    }
    if verified.key_trust == KeyTrust::EmbeddedOnly {
        println!(
            "warning: checked against the key inside the file only; pass --public-key with the server's key \
             (GET /api/v1/signing-key) to know the server made it"
        );
    }
    Ok(())
}

/// The format of `logvault export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Xlsx,
    Pdf,
}

impl From<ExportFormat> for Format {
    fn from(format: ExportFormat) -> Format {
        match format {
            ExportFormat::Csv => Format::Csv,
            ExportFormat::Xlsx => Format::Xlsx,
            ExportFormat::Pdf => Format::Pdf,
        }
    }
}

/// What `logvault export` is asked for.
#[derive(Debug)]
pub struct ExportArgs {
    pub serial: String,
    pub format: ExportFormat,
    pub from: String,
    pub to: String,
    pub channel: Option<i32>,
    pub output: Option<PathBuf>,
}

/// `logvault export`: the same signed export the API makes, written to a file (or standard output), audited as
/// `export.created` by `cli`. A CSV is written as it is read, so any period fits; the file appears under its name
/// only once complete, so a failed export leaves nothing that looks like one.
pub async fn export(config: Config, args: ExportArgs) -> anyhow::Result<()> {
    let period = Period::parse(&args.from, &args.to).map_err(|reason| anyhow::anyhow!("--from/--to: {reason}"))?;
    let format = Format::from(args.format);
    let opened = bootstrap::open(&config, Migrations::Leave).await?;
    let store = opened.store;
    let result = async {
        let device = store
            .all_devices()
            .await?
            .into_iter()
            .find(|device| device.serial == args.serial)
            .context("no device has this serial")?;
        let scope = OrgScope::for_operator(device.org_id);
        let exporter = Exporter {
            store: Arc::clone(&store),
            signing_keys: Arc::new(logvault_server::signing::load_or_create(store.as_ref(), &opened.master_key).await?),
            data_key_wrap: Arc::new(opened.master_key.derive(logvault_core::custody::DATA_KEY_WRAP_PURPOSE)),
        };
        let request = ExportRequest {
            scope,
            device,
            period,
            channel: args.channel,
            format,
            generated_by: "operator (cli)".to_owned(),
        };
        let prepared = exporter.prepare(request).await?;
        let path = args.output.clone().unwrap_or_else(|| PathBuf::from(prepared.filename()));
        let to_stdout = path.as_os_str() == "-";
        if !to_stdout && path.exists() {
            anyhow::bail!("{} exists already; choose another --output", path.display());
        }
        store
            .append_audit(NewEntry {
                chain_id: scope.org_id(),
                occurred_at_us: now_us(),
                actor: "cli".to_owned(),
                action: AuditAction::ExportCreated.into(),
                target: Some(format!("device:{}", prepared.request.device.serial)),
                outcome: Outcome::Success,
                request_id: None,
                detail: Some(prepared.audit_detail()),
            })
            .await?;
        if to_stdout {
            let mut out = std::io::stdout().lock();
            write_export(&exporter, prepared, &mut out).await?;
            return out.flush().context("could not write to standard output");
        }
        // Written beside the target and renamed when complete.
        let partial = path.with_extension(format!("{}.partial", format.as_str()));
        let mut file = std::io::BufWriter::new(
            std::fs::File::create_new(&partial).with_context(|| format!("could not create {}", partial.display()))?,
        );
        let written = async {
            let bytes = write_export(&exporter, prepared, &mut file).await?;
            file.into_inner().map_err(|err| err.into_error())?.sync_all()?;
            anyhow::Ok(bytes)
        }
        .await;
        match written {
            Ok(bytes) => {
                std::fs::rename(&partial, &path).with_context(|| format!("could not write {}", path.display()))?;
                eprintln!("wrote {} ({bytes} bytes)", path.display());
                Ok(())
            }
            Err(err) => {
                // Nothing half-written is left behind; the error is what counts.
                let _ = std::fs::remove_file(&partial);
                Err(err.context(format!("could not write {}", path.display())))
            }
        }
    }
    .await;
    store.close().await;
    result
}

/// Writes the export to `out`; returns the number of bytes.
async fn write_export(exporter: &Exporter, prepared: Prepared, out: &mut impl Write) -> anyhow::Result<u64> {
    let mut written = 0u64;
    match prepared.request.format {
        Format::Csv => {
            let mut csv = exporter.csv(prepared);
            while let Some(chunk) = csv.next_chunk().await? {
                out.write_all(&chunk)?;
                written = written.saturating_add(u64::try_from(chunk.len())?);
            }
        }
        Format::Xlsx | Format::Pdf => {
            let bytes = exporter.report(prepared).await?;
            out.write_all(&bytes)?;
            written = u64::try_from(bytes.len())?;
        }
    }
    Ok(written)
}
