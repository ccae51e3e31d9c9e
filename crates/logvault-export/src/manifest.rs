//! The signed manifest every export carries: what was exported (hashes of the bytes and of the rows), for which
//! device, period and chain heads, by whom and when, signed with the server's Ed25519 key.
//!
//! **Canonical form.** The signature covers the canonical bytes of the [`Manifest`]: `serde_json::to_vec` of the
//! struct, which writes the fields in declaration order, without whitespace, and floats in their shortest
//! round-tripping form (the crate enables serde_json's `float_roundtrip` so parsing gives back the same `f64`).
//! A verifier never trusts a reparse: it parses the embedded manifest, serialises it again and requires the result to
//! be byte-identical to what was embedded (so no unknown field, duplicate key, reordering or extra whitespace can
//! slip past the signature), and checks the signature over exactly those bytes.
//!
//! **Rows digest.** `rows_sha256` is the SHA-256 of a canonical text of the rows, the same for every format, so a CSV
//! and a PDF of the same period can be matched: one line per row, `t_s,rank,v1,v2,…\n`, where `t_s` is Unix seconds,
//! `rank` counts the rows of the same second in export order (0 for the first) and each value is the integer number
//! of thousandths or empty for no value. The rank stands for the row's ordinal: a spreadsheet or a printed report
//! shows the order of same-second samples, not the stored ordinal, and the digest must be recomputable from what the
//! export shows.

use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::ExportError;
use crate::model::{ExportHeader, ExportRow, Format};

/// The manifest format version this crate writes and reads.
pub const MANIFEST_VERSION: u32 = 1;

/// The marker that introduces the manifest at the end of a PDF (after `%%EOF`, a comment to PDF readers).
pub const PDF_MANIFEST_MARKER: &[u8] = b"\n%logvault-manifest ";

/// Why a key or a manifest could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("a signing key needs a 32-byte Ed25519 seed")]
    BadSeed,
    #[error("the operating system's random number generator failed")]
    Random,
    #[error("not an Ed25519 public key (expected 32 bytes as base64url or hex)")]
    BadPublicKey,
    #[error("the manifest cannot be serialised: {0}")]
    Serialise(String),
    #[error("malformed manifest: {0}")]
    Malformed(String),
    #[error("unsupported manifest version {0}")]
    UnsupportedVersion(u32),
}

/// The server's Ed25519 signing key. `Debug` shows the public key's fingerprint, never the seed.
pub struct SigningKey {
    key_pair: Ed25519KeyPair,
    public_key: PublicKey,
}

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

/// What an export's signature vouches for. Field order is the canonical order (see the module documentation): do not
/// reorder fields without a new `version`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`MANIFEST_VERSION`].
    pub version: u32,
    pub format: Format,
    /// Lower-case hex SHA-256 of the exported bytes before the manifest (what exactly is format-specific: see
    /// [`crate::csv`], [`mod@crate::xlsx`] and [`sign_pdf`]).
    pub content_sha256: String,
    /// Lower-case hex SHA-256 of the canonical rows text (see the module documentation).
    pub rows_sha256: String,
    pub n_rows: u64,
    pub header: ExportHeader,
    /// The signer's public key, base64url without padding.
    pub public_key: String,
}

/// A manifest and its Ed25519 signature over the manifest's canonical bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedManifest {
    pub manifest: Manifest,
    signature: [u8; 64],
    /// The canonical bytes the signature covers, kept so encoding embeds exactly what was signed.
    canonical: Vec<u8>,
}

/// Incremental digest of the canonical rows text, so a streamed export never holds all rows.
#[derive(Debug, Clone, Default)]
pub struct RowsDigest {
    hasher: Sha256,
    n_rows: u64,
    previous_t_s: Option<i64>,
    rank: u64,
}

impl SigningKey {
    /// A fresh key from the OS CSPRNG, and its seed for the caller to store (wrapped) and zeroise.
    pub fn generate() -> Result<(SigningKey, Zeroizing<[u8; 32]>), ManifestError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(seed.as_mut()).map_err(|_| ManifestError::Random)?;
        let key = SigningKey::from_seed(&seed)?;
        Ok((key, seed))
    }

    pub fn from_seed(seed: &[u8; 32]) -> Result<SigningKey, ManifestError> {
        let key_pair = Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| ManifestError::BadSeed)?;
        let public_key = PublicKey(key_pair.public_key().as_ref().try_into().map_err(|_| ManifestError::BadSeed)?);
        Ok(SigningKey { key_pair, public_key })
    }

    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut signature = [0u8; 64];
        // An Ed25519 signature is always 64 bytes.
        signature.copy_from_slice(self.key_pair.sign(message).as_ref());
        signature
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("public_key", &self.public_key.fingerprint()).finish_non_exhaustive()
    }
}

impl PublicKey {
    pub fn from_bytes(bytes: [u8; 32]) -> PublicKey {
        PublicKey(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Base64url without padding (43 characters), the form the manifest carries.
    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Accepts base64url without padding (what [`PublicKey::to_base64`] writes) or 64 hex digits.
    pub fn parse(text: &str) -> Result<PublicKey, ManifestError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| ManifestError::BadPublicKey)?
        } else {
            URL_SAFE_NO_PAD.decode(text).map_err(|_| ManifestError::BadPublicKey)?
        };
        Ok(PublicKey(bytes.try_into().map_err(|_| ManifestError::BadPublicKey)?))
    }

    /// The first 16 hex digits of the key's SHA-256: short enough to read out over the phone.
    pub fn fingerprint(&self) -> String {
        let mut fingerprint = hex::encode(Sha256::digest(self.0));
        fingerprint.truncate(16);
        fingerprint
    }

    fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        signature::UnparsedPublicKey::new(&signature::ED25519, &self.0).verify(message, signature).is_ok()
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl Manifest {
    /// The manifest of `header`'s export in `format`, its content and rows digests, to be signed by `key`.
    pub fn new(
        format: Format,
        header: &ExportHeader,
        content_sha256: [u8; 32],
        rows: RowsDigest,
        key: &SigningKey,
    ) -> Manifest {
        let (rows_sha256, n_rows) = rows.finish();
        Manifest {
            version: MANIFEST_VERSION,
            format,
            content_sha256: hex::encode(content_sha256),
            rows_sha256,
            n_rows,
            header: header.clone(),
            public_key: key.public_key().to_base64(),
        }
    }

    /// The canonical bytes (see the module documentation).
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, ManifestError> {
        serde_json::to_vec(self).map_err(|error| ManifestError::Serialise(error.to_string()))
    }

    pub fn public_key(&self) -> Result<PublicKey, ManifestError> {
        PublicKey::parse(&self.public_key)
    }
}

/// The envelope as it is embedded, before the manifest inside is checked for canonical form.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(borrow)]
    manifest: &'a serde_json::value::RawValue,
    signature: &'a str,
}

impl SignedManifest {
    pub fn sign(manifest: Manifest, key: &SigningKey) -> Result<SignedManifest, ManifestError> {
        let canonical = manifest.canonical_bytes()?;
        let signature = key.sign(&canonical);
        Ok(SignedManifest { manifest, signature, canonical })
    }

    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// Base64url (no padding) of `{"manifest":…,"signature":"<base64url>"}`: one token without spaces, commas or
    /// quotes, so it fits in a CSV field, a PDF comment and a ZIP comment alike.
    pub fn encode(&self) -> String {
        let mut json = Vec::with_capacity(self.canonical.len() + 128);
        json.extend_from_slice(b"{\"manifest\":");
        json.extend_from_slice(&self.canonical);
        json.extend_from_slice(b",\"signature\":\"");
        json.extend_from_slice(URL_SAFE_NO_PAD.encode(self.signature).as_bytes());
        json.extend_from_slice(b"\"}");
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Parses an encoded manifest and requires it to be in canonical form. Does not check the signature: see
    /// [`SignedManifest::verify_signature`].
    pub fn decode(encoded: &str) -> Result<SignedManifest, ManifestError> {
        let malformed = |what: &str| ManifestError::Malformed(what.to_owned());
        let json = URL_SAFE_NO_PAD.decode(encoded.trim()).map_err(|_| malformed("not base64url"))?;
        let envelope: Envelope<'_> =
            serde_json::from_slice(&json).map_err(|error| ManifestError::Malformed(error.to_string()))?;
        let embedded = envelope.manifest.get().as_bytes();
        // Look at the version before the rest, so a future manifest is reported as such rather than as malformed.
        #[derive(serde::Deserialize)]
        struct Versioned {
            version: u32,
        }
        let versioned: Versioned =
            serde_json::from_slice(embedded).map_err(|error| ManifestError::Malformed(error.to_string()))?;
        if versioned.version != MANIFEST_VERSION {
            return Err(ManifestError::UnsupportedVersion(versioned.version));
        }
        let manifest: Manifest =
            serde_json::from_slice(embedded).map_err(|error| ManifestError::Malformed(error.to_string()))?;
        let canonical = manifest.canonical_bytes()?;
        if canonical != embedded {
            return Err(malformed("the manifest is not in canonical form"));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(envelope.signature)
            .ok()
            .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
            .ok_or_else(|| malformed("the signature is not 64 bytes of base64url"))?;
        Ok(SignedManifest { manifest, signature, canonical })
    }

    /// Checks the signature with the key the manifest names, and returns that key.
    pub fn verify_signature(&self) -> Result<Option<PublicKey>, ManifestError> {
        let key = self.manifest.public_key()?;
        Ok(key.verify(&self.canonical, &self.signature).then_some(key))
    }
}

impl RowsDigest {
    pub fn new() -> RowsDigest {
        RowsDigest::default()
    }

    pub fn push(&mut self, row: &ExportRow) {
        self.push_values(row.t_s, &row.values_milli);
    }

    /// Like [`RowsDigest::push`], for a verifier that parsed the values back without building an [`ExportRow`].
    pub fn push_values(&mut self, t_s: i64, values_milli: &[Option<i64>]) {
        self.rank = if self.previous_t_s == Some(t_s) { self.rank + 1 } else { 0 };
        self.previous_t_s = Some(t_s);
        let mut line = format!("{t_s},{}", self.rank);
        for value in values_milli {
            line.push(',');
            if let Some(value) = value {
                line.push_str(&value.to_string());
            }
        }
        line.push('\n');
        self.hasher.update(line.as_bytes());
        self.n_rows += 1;
    }

    /// Lower-case hex digest and the number of rows.
    pub fn finish(self) -> (String, u64) {
        (hex::encode(self.hasher.finalize()), self.n_rows)
    }
}

/// The digest of a whole slice of rows.
pub fn rows_digest(rows: &[ExportRow]) -> RowsDigest {
    let mut digest = RowsDigest::new();
    rows.iter().for_each(|row| digest.push(row));
    digest
}

/// Signs the unsigned PDF `pdf` (from the `pdf` module's renderer) of `header` and `rows`: appends
/// `\n%logvault-manifest <encoded>\n` after the final `%%EOF`. PDF readers ignore what follows `%%EOF`, and a `%`
/// line is a comment anyway. `content_sha256` covers every byte before the appended line.
pub fn sign_pdf(
    pdf: Vec<u8>,
    header: &ExportHeader,
    rows: &[ExportRow],
    key: &SigningKey,
) -> Result<Vec<u8>, ExportError> {
    let mut pdf = pdf;
    let Some(eof_idx) = pdf.windows(5).rposition(|window| window == b"%%EOF") else {
        return Err(ExportError::NotSignable("the PDF has no %%EOF"));
    };
    // Only line ends may follow the final `%%EOF`: anything else would sit outside the signed structure a reader sees.
    if !pdf[eof_idx + 5..].iter().all(|b| matches!(b, b'\r' | b'\n')) {
        return Err(ExportError::NotSignable("the PDF has content after its final %%EOF"));
    }
    let content_sha256: [u8; 32] = Sha256::digest(&pdf).into();
    let manifest = Manifest::new(Format::Pdf, header, content_sha256, rows_digest(rows), key);
    let signed = SignedManifest::sign(manifest, key)?;
    pdf.extend_from_slice(PDF_MANIFEST_MARKER);
    pdf.extend_from_slice(signed.encode().as_bytes());
    pdf.push(b'\n');
    Ok(pdf)
}
