//! TLS: rustls with TLS 1.3 and 1.2 only, AEAD and forward-secret suites only, and a self-signed certificate
//! generated on first start when none is configured.
//!
//! The self-signed private key is kept sealed (AES-256-GCM) under a key derived from the master key, so a copy of
//! the data directory without the master key cannot impersonate the server.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use logvault_core::MasterKey;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use crate::config::Config;

/// The master key derivation label of the key that seals the self-signed certificate's private key.
pub const SELF_SIGNED_KEY_PURPOSE: &str = "logvault/tls-self-signed-key/v1";

/// Validity of a generated certificate.
const SELF_SIGNED_VALIDITY_DAYS: i64 = 825;

/// The crypto provider with only AEAD, forward-secret suites (rustls offers no others; this keeps it explicit).
pub fn provider() -> CryptoProvider {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites.retain(|suite| is_aead_and_forward_secret(suite.suite()));
    provider
}

fn is_aead_and_forward_secret(suite: rustls::CipherSuite) -> bool {
    let name = format!("{suite:?}");
    let aead = name.contains("_GCM_") || name.contains("CHACHA20_POLY1305");
    // TLS 1.3 suites (TLS13_*) always use (EC)DHE; TLS 1.2 suites must name ECDHE.
    let forward_secret = name.starts_with("TLS13_") || name.contains("_ECDHE_");
    aead && forward_secret
}

/// Builds the server TLS configuration; returns it with the PEM of the leaf certificate (for clients to trust).
pub fn server_config(config: &Config, master_key: &MasterKey) -> anyhow::Result<(Arc<rustls::ServerConfig>, String)> {
    let (chain, key, leaf_pem) = match (&config.tls.cert_file, &config.tls.key_file) {
        (Some(cert_file), Some(key_file)) => load_pem_files(cert_file, key_file)?,
        _ => load_or_create_self_signed(&config.data_dir.join("tls"), config, master_key)?,
    };
    let mut server_config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("could not select TLS versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the TLS certificate and private key do not form a usable pair")?;
    server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(server_config), leaf_pem))
}

type Material = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, String);

fn load_pem_files(cert_file: &Path, key_file: &Path) -> anyhow::Result<Material> {
    let chain = CertificateDer::pem_file_iter(cert_file)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("could not read the TLS certificate {}", cert_file.display()))?;
    anyhow::ensure!(!chain.is_empty(), "the TLS certificate file {} holds no certificate", cert_file.display());
    let key = PrivateKeyDer::from_pem_file(key_file)
        .with_context(|| format!("could not read the TLS private key {}", key_file.display()))?;
    let leaf_pem = std::fs::read_to_string(cert_file)
        .with_context(|| format!("could not read the TLS certificate {}", cert_file.display()))?;
    Ok((chain, key, leaf_pem))
}

fn self_signed_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("self-signed-cert.pem"), dir.join("self-signed-key.sealed"))
}

fn load_or_create_self_signed(dir: &Path, config: &Config, master_key: &MasterKey) -> anyhow::Result<Material> {
    let (cert_path, key_path) = self_signed_paths(dir);
    let seal_key = master_key.derive(SELF_SIGNED_KEY_PURPOSE);
    if cert_path.exists() && key_path.exists() {
        let cert_pem =
            std::fs::read_to_string(&cert_path).with_context(|| format!("could not read {}", cert_path.display()))?;
        let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .with_context(|| format!("{} is not a PEM certificate", cert_path.display()))?;
        let sealed = std::fs::read(&key_path).with_context(|| format!("could not read {}", key_path.display()))?;
        let key_der = logvault_core::envelope::open(&seal_key, b"tls-self-signed-key", &sealed)
            .with_context(|| format!("could not unseal {} with this master key", key_path.display()))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der.to_vec()));
        return Ok((vec![cert], key, cert_pem));
    }
    crate::bootstrap::create_private_dir(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    if !config.listen.ip().is_unspecified() && !config.listen.ip().is_loopback() {
        names.push(config.listen.ip().to_string());
    }
    let mut params = rcgen::CertificateParams::new(names).context("invalid certificate subject names")?;
    params.distinguished_name.push(rcgen::DnType::CommonName, "Logvault self-signed");
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(SELF_SIGNED_VALIDITY_DAYS);
    let key_pair = rcgen::KeyPair::generate().context("could not generate a TLS key pair")?;
    let cert = params.self_signed(&key_pair).context("could not self-sign the certificate")?;
    let key_der = key_pair.serialize_der();
    let sealed = logvault_core::envelope::seal(&seal_key, b"tls-self-signed-key", &key_der)
        .context("could not seal the TLS private key")?;
    write_new(&key_path, &sealed)?;
    write_new(&cert_path, cert.pem().as_bytes())?;
    tracing::info!(path = %cert_path.display(), "generated a self-signed TLS certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der));
    Ok((vec![cert.der().clone()], key, cert.pem()))
}

fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("could not create {}", path.display()))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).with_context(|| format!("could not write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_offered_suite_is_aead_and_forward_secret() {
        let provider = provider();
        assert!(!provider.cipher_suites.is_empty());
        for suite in &provider.cipher_suites {
            assert!(is_aead_and_forward_secret(suite.suite()), "{:?}", suite.suite());
        }
        assert!(!is_aead_and_forward_secret(rustls::CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256));
        assert!(!is_aead_and_forward_secret(rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA));
    }
}
