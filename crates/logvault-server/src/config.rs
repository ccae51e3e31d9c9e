//! The typed configuration tree, loaded as defaults → optional `logvault.toml` → `LOGVAULT_*` environment → flags.
//!
//! Secrets are `SecretString`s whose `Serialize` writes `[redacted]`, so printing a configuration can never leak
//! them; the database URL is shown with its password replaced.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

/// The whole configuration of a Logvault instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory for the SQLite database, the master key (unless master_key_file is set) and the self-signed
    /// certificate.
    pub data_dir: PathBuf,
    /// A postgres:// URL selects PostgreSQL; unset means the embedded, encrypted SQLite file in data_dir.
    #[serde(serialize_with = "serialize_database_url")]
    pub database_url: Option<SecretString>,
    /// The master key file. Default: data_dir/master.key, created on first start. In production keep it apart
    /// from the data (another disk, a secrets mount), so a copy of the data alone is useless.
    pub master_key_file: Option<PathBuf>,
    /// Address and port of the HTTPS listener; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Serve plain HTTP instead of HTTPS. Only behind a TLS-terminating reverse proxy.
    pub insecure_http: bool,
    /// The external base URL used in links sent by email, e.g. `https://logvault.example.com`. Unset means
    /// `https://localhost:{port of listen}`; see [`Config::public_base_url`].
    pub public_url: Option<String>,
    pub tls: TlsConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub http: HttpConfig,
    pub smtp: SmtpConfig,
}

/// TLS certificate. Without both files a self-signed certificate is generated in data_dir/tls on first start.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert_file: Option<PathBuf>,
    /// PEM private key.
    pub key_file: Option<PathBuf>,
}

/// Technical logs. They never carry secrets, tokens, passwords, email addresses or raw client IPs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// "human" or "json".
    pub format: LogFormat,
    /// A tracing filter such as "info" or "info,logvault_server=debug"; RUST_LOG overrides it.
    pub filter: String,
}

/// Output format of technical logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// Prometheus metrics. Never public by default: set a bearer token, a loopback listener, or both.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Bearer token that unlocks GET /metrics on the main listener.
    #[serde(serialize_with = "serialize_secret")]
    pub token: Option<SecretString>,
    /// A separate plain-HTTP listener for /metrics; must be a loopback address.
    pub listen: Option<SocketAddr>,
}

/// Limits on what one request may cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Seconds before a request is answered with 408.
    pub request_timeout_secs: u64,
    /// Seconds a client has to send its request headers before the connection is closed.
    pub header_read_timeout_secs: u64,
    /// Addresses of reverse proxies whose X-Forwarded-For is believed; from anyone else it is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// Outgoing email (sign-in codes, invitations, lockout notices). Without a host, email is disabled.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// The SMTP relay (submission server); unset disables email.
    pub host: Option<String>,
    /// 587 for STARTTLS (submission), 465 for implicit TLS (submissions).
    pub port: u16,
    /// How the connection is secured.
    pub security: SmtpSecurity,
    /// User name for SMTP authentication; set together with password.
    pub username: Option<String>,
    /// Password for SMTP authentication.
    #[serde(serialize_with = "serialize_secret")]
    pub password: Option<SecretString>,
    /// Sender mailbox, e.g. `Logvault <logvault@example.com>`.
    pub from: String,
    /// Seconds for connecting and for each SMTP command before delivery is given up.
    pub timeout_secs: u64,
}

/// How the SMTP connection is secured. The server certificate is checked against the system's trust store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which is required (usually port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (usually port 465).
    Tls,
    /// No encryption at all: only for a relay on the same host or in tests. Credentials are refused with it, since
    /// they would cross the wire in clear.
    None,
}

/// Values given on the command line; `None` leaves the lower layers in force. `Debug` redacts the database URL.
#[derive(Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insecure_http: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<LogOverrides>,
}

impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overrides")
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_deref().map(redact_url_password))
            .field("listen", &self.listen)
            .field("insecure_http", &self.insecure_http)
            .field("log", &self.log)
            .finish()
    }
}

/// Command-line overrides of the log section.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LogOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<LogFormat>,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Every configuration key that can come from the environment, as (variable suffix, key path, is text).
///
/// Only these are read: other `LOGVAULT_*` variables (e.g. the `LOGVAULT_PORT` that Kubernetes adds for a Service
/// named `logvault`) are ignored instead of stopping the server. Text keys are taken verbatim, so a numeric token or
/// a path like `2024` stays a string; the others are parsed as TOML scalars (numbers, booleans). An empty variable
/// counts as unset.
const ENV_KEYS: &[(&str, &str, bool)] = &[
    ("DATA_DIR", "data_dir", true),
    ("DATABASE_URL", "database_url", true),
    ("MASTER_KEY_FILE", "master_key_file", true),
    ("LISTEN", "listen", true),
    ("INSECURE_HTTP", "insecure_http", false),
    ("PUBLIC_URL", "public_url", true),
    ("TLS__CERT_FILE", "tls.cert_file", true),
    ("TLS__KEY_FILE", "tls.key_file", true),
    ("LOG__FORMAT", "log.format", true),
    ("LOG__FILTER", "log.filter", true),
    ("METRICS__TOKEN", "metrics.token", true),
    ("METRICS__LISTEN", "metrics.listen", true),
    ("HTTP__MAX_BODY_BYTES", "http.max_body_bytes", false),
    ("HTTP__REQUEST_TIMEOUT_SECS", "http.request_timeout_secs", false),
    ("HTTP__HEADER_READ_TIMEOUT_SECS", "http.header_read_timeout_secs", false),
    ("HTTP__TRUSTED_PROXIES", "http.trusted_proxies", false),
    ("SMTP__HOST", "smtp.host", true),
    ("SMTP__PORT", "smtp.port", false),
    ("SMTP__SECURITY", "smtp.security", true),
    ("SMTP__USERNAME", "smtp.username", true),
    ("SMTP__PASSWORD", "smtp.password", true),
    ("SMTP__FROM", "smtp.from", true),
    ("SMTP__TIMEOUT_SECS", "smtp.timeout_secs", false),
];

/// The shortest metrics bearer token accepted (an empty or short token would make /metrics guessable).
pub const MIN_METRICS_TOKEN_CHARS: usize = 32;

impl Default for Config {
    fn default() -> Config {
        Config {
            data_dir: PathBuf::from("logvault-data"),
            database_url: None,
            master_key_file: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            insecure_http: false,
            public_url: None,
            tls: TlsConfig::default(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            http: HttpConfig::default(),
            smtp: SmtpConfig::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig { format: LogFormat::Human, filter: "info".to_owned() }
    }
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            max_body_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for SmtpConfig {
    fn default() -> SmtpConfig {
        SmtpConfig {
            host: None,
            port: 587,
            security: SmtpSecurity::Starttls,
            username: None,
            password: None,
            from: "Logvault <logvault@localhost>".to_owned(),
            timeout_secs: 10,
        }
    }
}

impl Config {
    /// Loads the layered configuration. `file` is the TOML file to read if it exists (a missing default file is
    /// fine; a missing explicitly named file is an error, checked by the caller).
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        Config::load_from(file, |name| std::env::var(format!("LOGVAULT_{name}")).ok(), overrides)
    }

    fn load_from(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        let config: Config = figment
            .merge(Serialized::globals(env_layer(env)))
            .merge(Serialized::globals(overrides))
            .extract()
            .map_err(|err| ConfigError::Invalid(one_line(&err)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(addr) = self.metrics.listen
            && !addr.ip().is_loopback()
        {
            return Err(ConfigError::Invalid(format!(
                "metrics.listen must be a loopback address, got {addr}; use metrics.token to expose /metrics on the \
                 main listener"
            )));
        }
        if let Some(url) = &self.database_url {
            let url = url.expose_secret();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(ConfigError::Invalid(
                    "database_url must be a postgres:// URL (leave it unset for the embedded SQLite database)"
                        .to_owned(),
                ));
            }
        }
        if let Some(token) = &self.metrics.token
            && token.expose_secret().chars().count() < MIN_METRICS_TOKEN_CHARS
        {
            return Err(ConfigError::Invalid(format!(
                "metrics.token must be at least {MIN_METRICS_TOKEN_CHARS} characters (e.g. openssl rand -hex 32)"
            )));
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return Err(ConfigError::Invalid("tls.cert_file and tls.key_file must be set together".to_owned()));
        }
        if self.http.max_body_bytes == 0
            || self.http.request_timeout_secs == 0
            || self.http.header_read_timeout_secs == 0
        {
            return Err(ConfigError::Invalid(
                "http.max_body_bytes, http.request_timeout_secs and http.header_read_timeout_secs must be positive"
                    .to_owned(),
            ));
        }
        if let Some(public_url) = &self.public_url {
            validate_public_url(public_url, self.insecure_http)?;
        }
        self.smtp.validate()?;
        Ok(())
    }

    /// The external base URL for links in emails, without a trailing slash: `public_url` if set, otherwise
    /// `https://localhost:{port of listen}`.
    pub fn public_base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("https://localhost:{}", self.listen.port()),
        }
    }

    /// The effective configuration as TOML, with secrets redacted.
    pub fn to_redacted_toml(&self) -> Result<String, ConfigError> {
        toml::to_string_pretty(self).map_err(|err| ConfigError::Invalid(err.to_string()))
    }

    /// The path of the SQLite database file.
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("logvault.db")
    }

    /// The master key file actually in force.
    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file.clone().unwrap_or_else(|| self.data_dir.join("master.key"))
    }
}

impl SmtpConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(message.to_owned()));
        if self.host.as_deref().is_some_and(|host| host.trim().is_empty()) {
            return invalid("smtp.host must not be empty (leave it unset to disable email)");
        }
        if self.port == 0 {
            return invalid("smtp.port must be positive");
        }
        if self.timeout_secs == 0 {
            return invalid("smtp.timeout_secs must be positive");
        }
        if self.username.is_some() != self.password.is_some() {
            return invalid("smtp.username and smtp.password must be set together");
        }
        if self.username.is_some() && self.security == SmtpSecurity::None {
            return invalid("smtp.security = \"none\" would send the password in clear; use \"starttls\" or \"tls\"");
        }
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            return invalid("smtp.from must be a mailbox such as \"Logvault <logvault@example.com>\"");
        }
        Ok(())
    }
}

/// An absolute `https://` URL (or `http://` when serving plain HTTP) without credentials, query or fragment.
fn validate_public_url(raw: &str, insecure_http: bool) -> Result<(), ConfigError> {
    let expected = if insecure_http { "an absolute https:// or http:// URL" } else { "an absolute https:// URL" };
    let refuse = || Err(ConfigError::Invalid(format!("public_url must be {expected} without query or fragment")));
    let Ok(url) = url::Url::parse(raw) else { return refuse() };
    let scheme_ok = url.scheme() == "https" || (insecure_http && url.scheme() == "http");
    let plain = url.username().is_empty() && url.password().is_none() && url.query().is_none();
    if !scheme_ok || !plain || url.fragment().is_some() || url.host_str().is_none_or(str::is_empty) {
        return refuse();
    }
    Ok(())
}

/// A commented example configuration listing every key with its default.
pub const TEMPLATE: &str = r#"# logvault.toml — every key is optional; shown here with its default.
# Precedence: defaults < this file < LOGVAULT_* environment variables (nested keys joined with "__",
# e.g. LOGVAULT_METRICS__TOKEN) < command-line flags.

# Directory for the SQLite database, the master key (unless master_key_file is set) and the self-signed
# certificate.
# data_dir = "logvault-data"

# A postgres:// URL selects PostgreSQL; unset means the embedded, encrypted SQLite file in data_dir.
# Prefer LOGVAULT_DATABASE_URL for a URL that carries a password.
# database_url = "postgres://logvault@127.0.0.1:5432/logvault"

# The master key file. Default: data_dir/master.key, created on first start. In production keep it apart
# from the data (another disk, a secrets mount), so a copy of the data alone is useless.
# master_key_file = "/run/secrets/logvault-master.key"

# Address and port of the HTTPS listener; port 0 picks a free port.
# listen = "127.0.0.1:8443"

# Serve plain HTTP instead of HTTPS. Only behind a TLS-terminating reverse proxy.
# insecure_http = false

# The external base URL used in links sent by email (invitations, set-up links), as people reach this server,
# e.g. through a reverse proxy. An https:// URL (http:// only with insecure_http); a path prefix is allowed.
# Default: https://localhost:<port of listen>, which is only right for trying Logvault out.
# public_url = "https://logvault.example.com"

[tls]
# PEM certificate chain and private key. Without both, a self-signed certificate is generated in
# data_dir/tls on first start.
# cert_file = "/etc/logvault/cert.pem"
# key_file = "/etc/logvault/key.pem"

[log]
# "human" or "json".
# format = "human"
# A tracing filter such as "info" or "info,logvault_server=debug"; RUST_LOG overrides it.
# filter = "info"

[metrics]
# Prometheus metrics are never public by default: set a bearer token, a loopback listener, or both.
# Bearer token that unlocks GET /metrics on the main listener (prefer LOGVAULT_METRICS__TOKEN).
# token = "at-least-32-characters-e.g.-openssl-rand-hex-32"
# A separate plain-HTTP listener for /metrics; must be a loopback address.
# listen = "127.0.0.1:9464"

[http]
# Largest accepted request body, in bytes.
# max_body_bytes = 1048576
# Seconds before a request is answered with 408.
# request_timeout_secs = 30
# Seconds a client has to send its request headers before the connection is closed. This also ends idle
# HTTP/1.1 keep-alive connections: a reverse proxy in front should keep its idle upstream connections for less.
# header_read_timeout_secs = 10
# Addresses of reverse proxies whose X-Forwarded-For is believed (for per-client throttling); from anyone else it
# is ignored.
# trusted_proxies = ["127.0.0.1"]

[smtp]
# Outgoing email: sign-in codes, invitations, set-up links and lockout notices. Without a host, email is
# disabled. Environment: LOGVAULT_SMTP__HOST, LOGVAULT_SMTP__PORT, LOGVAULT_SMTP__SECURITY,
# LOGVAULT_SMTP__USERNAME, LOGVAULT_SMTP__PASSWORD, LOGVAULT_SMTP__FROM, LOGVAULT_SMTP__TIMEOUT_SECS.
# The SMTP relay (submission server).
# host = "smtp.example.com"
# 587 for STARTTLS (submission), 465 for implicit TLS (submissions).
# port = 587
# "starttls" (a plain connection upgraded with STARTTLS, which is required), "tls" (TLS from the first byte) or
# "none" (no encryption at all: only for a relay on the same host or in tests; credentials are refused with it).
# The server certificate is checked against the system's trust store.
# security = "starttls"
# Credentials for SMTP authentication, set together (prefer LOGVAULT_SMTP__PASSWORD for the password).
# username = "logvault@example.com"
# password = "app-password"
# Sender mailbox shown to recipients.
# from = "Logvault <logvault@localhost>"
# Seconds for connecting and for each SMTP command before delivery is given up.
# timeout_secs = 10
"#;

/// The environment layer: known keys only, empty means unset, text keys verbatim.
fn env_layer(env: impl Fn(&str) -> Option<String>) -> toml::Table {
    let mut root = toml::Table::new();
    for (name, path, is_text) in ENV_KEYS {
        let Some(raw) = env(name).filter(|value| !value.is_empty()) else { continue };
        let value = if *is_text {
            toml::Value::String(raw)
        } else {
            toml::from_str::<toml::Table>(&format!("v = {raw}"))
                .ok()
                .and_then(|mut table| table.remove("v"))
                .unwrap_or(toml::Value::String(raw))
        };
        let mut table = &mut root;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                table.insert(part.to_owned(), value.clone());
            } else {
                let entry = table.entry(part.to_owned()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
                let toml::Value::Table(inner) = entry else { break };
                table = inner;
            }
        }
    }
    root
}

/// One line per problem naming the key and what was expected — never the value, which may be a secret.
fn one_line(err: &figment::Error) -> String {
    use figment::error::Kind;
    err.clone()
        .into_iter()
        .map(|e| {
            let key = if e.path.is_empty() { "configuration".to_owned() } else { e.path.join(".") };
            let origin = e.metadata.as_ref().map(|m| format!(" (from {})", m.name)).unwrap_or_default();
            match &e.kind {
                Kind::InvalidType(_, expected) | Kind::InvalidValue(_, expected) => {
                    format!("{key}: expected {expected}{origin}")
                }
                Kind::UnknownField(field, _) => format!("unknown key {field}{origin}"),
                Kind::MissingField(field) => format!("missing key {field}{origin}"),
                Kind::Message(message) if e.path.is_empty() => format!("{message}{origin}"),
                _ => format!("{key}: invalid value{origin}"),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn serialize_secret<S: Serializer>(secret: &Option<SecretString>, serializer: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => serializer.serialize_str("[redacted]"),
        None => serializer.serialize_none(),
    }
}

fn serialize_database_url<S: Serializer>(url: &Option<SecretString>, serializer: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serializer.serialize_str(&redact_url_password(url.expose_secret())),
        None => serializer.serialize_none(),
    }
}

/// Replaces the password of `scheme://user:password@host/...` with `[redacted]`, and the query string (which may
/// carry `password=`). The password may contain `/`, `?`, `:` or `#`: everything between `://` and the last `@` is
/// the user information. A URL without `://` is shown as `[redacted]`.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "[redacted]".to_owned() };
    let (userinfo, location) = match rest.rsplit_once('@') {
        Some((userinfo, location)) => (Some(userinfo), location),
        None => (None, rest),
    };
    let (location, had_query) = match location.split_once('?') {
        Some((before, _)) => (before, true),
        None => (location, false),
    };
    let user = match userinfo {
        Some(info) => match info.split_once(':') {
            Some((user, _password)) => format!("{user}:[redacted]@"),
            None => format!("{info}@"),
        },
        None => String::new(),
    };
    let suffix = if had_query { "?[redacted]" } else { "" };
    format!("{scheme}://{user}{location}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned())
    }

    #[test]
    fn the_template_names_every_key_and_its_examples_form_a_valid_configuration() {
        let uncommented: String = TEMPLATE
            .lines()
            .filter_map(|line| {
                let body = line.strip_prefix("# ").unwrap_or(line);
                let is_section = body.starts_with('[');
                let is_assignment = body
                    .split_once(" = ")
                    .is_some_and(|(key, _)| !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
                (is_section || is_assignment).then_some(body)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let parsed: toml::Table = toml::from_str(&uncommented).unwrap();
        let defaults: toml::Table = toml::from_str(&Config::default().to_redacted_toml().unwrap()).unwrap();
        // Every default key is documented in the template.
        for (key, value) in &defaults {
            match value {
                toml::Value::Table(section) => {
                    for sub in section.keys() {
                        assert!(parsed[key].as_table().unwrap().contains_key(sub), "template lacks {key}.{sub}");
                    }
                }
                _ => assert!(parsed.contains_key(key), "template lacks {key}"),
            }
        }
        // The example values form a valid configuration, and those that are defaults match the code.
        let config: Config = toml::from_str(&uncommented).unwrap();
        config.validate().unwrap();
        assert_eq!(config.listen, Config::default().listen);
        assert_eq!(config.http.max_body_bytes, Config::default().http.max_body_bytes);
    }

    #[test]
    fn layers_apply_in_order_file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("logvault.toml");
        std::fs::write(&file, "data_dir = \"from-file\"\nlisten = \"127.0.0.1:1000\"\n[http]\nmax_body_bytes = 5\n")
            .unwrap();
        let env = env_of(&[("LISTEN", "127.0.0.1:2000"), ("HTTP__REQUEST_TIMEOUT_SECS", "7")]);
        let overrides = Overrides { data_dir: Some("from-flag".into()), ..Overrides::default() };
        let config = Config::load_from(Some(&file), env, &overrides).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("from-flag"));
        assert_eq!(config.listen, "127.0.0.1:2000".parse().unwrap());
        assert_eq!(config.http.max_body_bytes, 5);
        assert_eq!(config.http.request_timeout_secs, 7);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_one_line_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("logvault.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:1\"\n").unwrap();
        let err = Config::load_from(Some(&file), no_env, &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("lisen"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        std::fs::write(&file, "database_url = \"mysql://x\"\n").unwrap();
        let err = Config::load_from(Some(&file), no_env, &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("postgres://"), "{err}");
        std::fs::write(&file, "[metrics]\nlisten = \"0.0.0.0:9464\"\n").unwrap();
        let err = Config::load_from(Some(&file), no_env, &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("loopback"), "{err}");
    }

    #[test]
    fn environment_values_are_text_where_text_is_expected_and_empty_means_unset() {
        let env = env_of(&[
            ("METRICS__TOKEN", "918273645546372819918273645546372819"),
            ("DATA_DIR", "2024"),
            ("DATABASE_URL", ""),
            ("INSECURE_HTTP", "true"),
            ("PORT", "tcp://10.0.0.1:8443"),
        ]);
        let config = Config::load_from(None, env, &Overrides::default()).unwrap();
        assert_eq!(config.metrics.token.unwrap().expose_secret(), "918273645546372819918273645546372819");
        assert_eq!(config.data_dir, PathBuf::from("2024"));
        assert!(config.database_url.is_none());
        assert!(config.insecure_http);
    }

    #[test]
    fn errors_name_the_key_but_never_the_value() {
        let env = env_of(&[("HTTP__MAX_BODY_BYTES", "s3cret-looking-value")]);
        let err = Config::load_from(None, env, &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("http.max_body_bytes"), "{err}");
        assert!(!err.contains("s3cret-looking-value"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("logvault.toml");
        std::fs::write(&file, "[metrics]\ntoken = 123456789\n").unwrap();
        let err = Config::load_from(Some(&file), no_env, &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("metrics.token"), "{err}");
        assert!(!err.contains("123456789"), "{err}");
    }

    #[test]
    fn an_empty_or_short_metrics_token_is_refused() {
        for token in ["   ", "short-token"] {
            let config = Config {
                metrics: MetricsConfig { token: Some(SecretString::from(token.to_owned())), listen: None },
                ..Config::default()
            };
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains("at least 32"), "{err}");
        }
    }

    #[test]
    fn url_passwords_with_slashes_question_marks_and_colons_are_redacted() {
        for (url, shown) in [
            ("postgres://lv:Xy7/Secr3t+Base64==@db:5432/lv", "postgres://lv:[redacted]@db:5432/lv"),
            ("postgres://lv:Ab?Secr3t@db/lv", "postgres://lv:[redacted]@db/lv"),
            ("postgres://lv:a:b@c@db/lv?sslmode=require", "postgres://lv:[redacted]@db/lv?[redacted]"),
            ("postgres://db/lv", "postgres://db/lv"),
            ("not a url", "[redacted]"),
        ] {
            assert_eq!(redact_url_password(url), shown);
        }
    }

    #[test]
    fn secrets_are_redacted_when_shown() {
        let config = Config {
            database_url: Some(SecretString::from("postgres://lv:hunter2-secret@db:5432/lv?password=x")),
            metrics: MetricsConfig {
                token: Some(SecretString::from("metrics-token-secret-0123456789abcdef")),
                listen: None,
            },
            ..Config::default()
        };
        let shown = config.to_redacted_toml().unwrap();
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(!shown.contains("password=x"), "{shown}");
        assert!(!shown.contains("metrics-token-secret"), "{shown}");
        assert!(shown.contains("postgres://lv:[redacted]@db:5432/lv"), "{shown}");
        assert!(!format!("{config:?}").contains("hunter2-secret"));
    }

    #[test]
    fn smtp_settings_come_from_the_environment_and_the_password_is_never_shown() {
        let env = env_of(&[
            ("SMTP__HOST", "smtp.example.test"),
            ("SMTP__PORT", "465"),
            ("SMTP__SECURITY", "tls"),
            ("SMTP__USERNAME", "relay-user"),
            ("SMTP__PASSWORD", "smtp-hunter2-secret"),
            ("SMTP__FROM", "Logvault <noreply@example.test>"),
            ("SMTP__TIMEOUT_SECS", "3"),
            ("PUBLIC_URL", "https://logvault.example.test/"),
        ]);
        let config = Config::load_from(None, env, &Overrides::default()).unwrap();
        assert_eq!(config.smtp.host.as_deref(), Some("smtp.example.test"));
        assert_eq!(config.smtp.port, 465);
        assert_eq!(config.smtp.security, SmtpSecurity::Tls);
        assert_eq!(config.smtp.username.as_deref(), Some("relay-user"));
        assert_eq!(config.smtp.password.as_ref().unwrap().expose_secret(), "smtp-hunter2-secret");
        assert_eq!(config.smtp.from, "Logvault <noreply@example.test>");
        assert_eq!(config.smtp.timeout_secs, 3);
        assert_eq!(config.public_base_url(), "https://logvault.example.test");
        let shown = config.to_redacted_toml().unwrap();
        assert!(!shown.contains("smtp-hunter2-secret"), "{shown}");
        assert!(shown.contains("password = \"[redacted]\""), "{shown}");
        assert!(!format!("{config:?}").contains("smtp-hunter2-secret"));
    }

    #[test]
    fn email_is_disabled_and_links_point_at_localhost_by_default() {
        let config = Config::load_from(None, no_env, &Overrides::default()).unwrap();
        assert!(config.smtp.host.is_none());
        assert_eq!(config.smtp.port, 587);
        assert_eq!(config.smtp.security, SmtpSecurity::Starttls);
        assert_eq!(config.public_base_url(), "https://localhost:8443");
    }

    #[test]
    fn the_public_url_must_be_an_absolute_https_url_and_errors_do_not_echo_it() {
        for (url, insecure_http, accepted) in [
            ("https://logvault.example.test", false, true),
            ("https://logvault.example.test:8443/lv/", false, true),
            ("http://logvault.example.test", true, true),
            ("http://logvault.example.test", false, false),
            ("ftp://logvault.example.test", true, false),
            ("logvault.example.test", false, false),
            ("/relative/path", false, false),
            ("https://user:pw@logvault.example.test", false, false),
            ("https://logvault.example.test/?next=x", false, false),
        ] {
            let config = Config { public_url: Some(url.to_owned()), insecure_http, ..Config::default() };
            match config.validate() {
                Ok(()) => assert!(accepted, "{url} was accepted"),
                Err(err) => {
                    assert!(!accepted, "{url} was refused: {err}");
                    let err = err.to_string();
                    assert!(err.contains("public_url"), "{err}");
                    assert!(!err.contains(url), "{err}");
                }
            }
        }
        let config = Config { public_url: Some("https://lv.example.test/base/".to_owned()), ..Config::default() };
        assert_eq!(config.public_base_url(), "https://lv.example.test/base");
    }

    #[test]
    fn inconsistent_smtp_settings_are_refused() {
        let with = |adjust: fn(&mut SmtpConfig)| {
            let mut smtp = SmtpConfig { host: Some("smtp.example.test".to_owned()), ..SmtpConfig::default() };
            adjust(&mut smtp);
            Config { smtp, ..Config::default() }.validate().map_err(|err| err.to_string())
        };
        assert!(with(|_| {}).is_ok());
        let err = with(|smtp| smtp.username = Some("user".to_owned())).unwrap_err();
        assert!(err.contains("together"), "{err}");
        let err = with(|smtp| {
            smtp.username = Some("user".to_owned());
            smtp.password = Some(SecretString::from("smtp-secret-in-clear"));
            smtp.security = SmtpSecurity::None;
        })
        .unwrap_err();
        assert!(err.contains("in clear"), "{err}");
        assert!(!err.contains("smtp-secret-in-clear"), "{err}");
        let err = with(|smtp| smtp.from = "not a mailbox".to_owned()).unwrap_err();
        assert!(err.contains("smtp.from"), "{err}");
        assert!(!err.contains("not a mailbox"), "{err}");
        let err = with(|smtp| smtp.timeout_secs = 0).unwrap_err();
        assert!(err.contains("smtp.timeout_secs"), "{err}");
        let err = with(|smtp| smtp.host = Some(" ".to_owned())).unwrap_err();
        assert!(err.contains("smtp.host"), "{err}");
        let err = Config::load_from(None, env_of(&[("SMTP__SECURITY", "ssl")]), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("smtp.security"), "{err}");
    }
}
