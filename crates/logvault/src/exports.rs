//! `logvault verify-export`: checks an export offline, with nothing but the file and (ideally) the server's public
//! key.

use std::path::Path;

use anyhow::Context;
use logvault_export::{KeyTrust, PublicKey, verify_export as verify};

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
