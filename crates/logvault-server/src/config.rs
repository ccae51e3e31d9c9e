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

/// The whole configuration of a Logvault instance. What each key means, its environment variable and whether it
/// is a secret are in [`KEYS`]; its default is in the `Default` impls below.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    #[serde(serialize_with = "serialize_database_url")]
    pub database_url: Option<SecretString>,
    pub master_key_file: Option<PathBuf>,
    pub listen: SocketAddr,
    pub insecure_http: bool,
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
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// Technical logs. They never carry secrets, tokens, passwords, email addresses or raw client IPs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
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
    #[serde(serialize_with = "serialize_secret")]
    pub token: Option<SecretString>,
    pub listen: Option<SocketAddr>,
}

/// Limits on what one request may cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub max_body_bytes: usize,
    pub request_timeout_secs: u64,
    pub header_read_timeout_secs: u64,
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// Outgoing email (sign-in codes, invitations, lockout notices). Without a host, email is disabled.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: Option<String>,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    #[serde(serialize_with = "serialize_secret")]
    pub password: Option<SecretString>,
    pub from: String,
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

/// How an environment variable's text becomes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvValue {
    /// Taken verbatim, so a numeric token or a path like `2024` stays a string.
    Text,
    /// Parsed as a TOML value (numbers, booleans, arrays).
    Toml,
}

/// One configuration key: everything about it is written here once, and the environment mapping, the commented
/// template and the tests are made from this table.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// Dotted path in the `Config` tree, e.g. `http.max_body_bytes`; the environment variable is `LOGVAULT_` and the
    /// path upper-cased with `.` as `__` ([`Key::env_var`]).
    pub path: &'static str,
    /// What the key does, as the template shows it (one sentence per line is fine; lines are wrapped as written).
    pub doc: &'static str,
    pub env: EnvValue,
    /// A secret: redacted whenever the configuration is shown, and best given through the environment.
    pub secret: bool,
    /// A TOML value the template shows for a key that is unset by default (keys with a default show it instead),
    /// and a valid non-default value for the tests.
    pub example: &'static str,
}

/// The sections of the tree, with what the template says about each.
pub const SECTIONS: &[(&str, &str)] = &[
    (
        "tls",
        "TLS certificate. Without both files, a self-signed certificate is generated in data_dir/tls on first\nstart.",
    ),
    ("log", "Technical logs. They never carry secrets, tokens, passwords, email addresses or raw client IPs."),
    ("metrics", "Prometheus metrics are never public by default: set a bearer token, a loopback listener, or both."),
    ("http", "Limits on what one request may cost."),
    (
        "smtp",
        "Outgoing email: sign-in codes, invitations, set-up links and lockout notices. Without a host, email is\n\
         disabled.",
    ),
];

/// Every configuration key. Only these are read from the environment: other `LOGVAULT_*` variables (e.g. the
/// `LOGVAULT_PORT` that Kubernetes adds for a Service named `logvault`) are ignored instead of stopping the server.
/// An empty variable counts as unset.
pub const KEYS: &[Key] = &[
    Key {
        path: "data_dir",
        doc: "Directory for the SQLite database, the master key (unless master_key_file is set) and the self-signed\n\
              certificate.",
        env: EnvValue::Text,
        secret: false,
        example: "\"/var/lib/logvault\"",
    },
    Key {
        path: "database_url",
        doc: "A postgres:// URL selects PostgreSQL; unset means the embedded, encrypted SQLite file in data_dir.",
        env: EnvValue::Text,
        secret: true,
        example: "\"postgres://logvault:password@db.example.com:5432/logvault\"",
    },
    Key {
        path: "master_key_file",
        doc: "The master key file. Default: data_dir/master.key, created on first start. In production keep it apart\n\
              from the data (another disk, a secrets mount), so a copy of the data alone is useless.",
        env: EnvValue::Text,
        secret: false,
        example: "\"/run/secrets/logvault-master.key\"",
    },
    Key {
        path: "listen",
        doc: "Address and port of the HTTPS listener; port 0 picks a free port.",
        env: EnvValue::Text,
        secret: false,
        example: "\"0.0.0.0:443\"",
    },
    Key {
        path: "insecure_http",
        doc: "Serve plain HTTP instead of HTTPS. Only behind a TLS-terminating reverse proxy.",
        env: EnvValue::Toml,
        secret: false,
        example: "true",
    },
    Key {
        path: "public_url",
        doc: "The external base URL used in links sent by email (invitations, set-up links), as people reach this\n\
              server, e.g. through a reverse proxy. An https:// URL (http:// only with insecure_http); a path prefix is\n\
              allowed. Default: https://localhost:<port of listen>, which is only right for trying Logvault out.",
        env: EnvValue::Text,
        secret: false,
        example: "\"https://logvault.example.com\"",
    },
    Key {
        path: "tls.cert_file",
        doc: "PEM certificate chain; set together with key_file.",
        env: EnvValue::Text,
        secret: false,
        example: "\"/etc/logvault/cert.pem\"",
    },
    Key {
        path: "tls.key_file",
        doc: "PEM private key.",
        env: EnvValue::Text,
        secret: false,
        example: "\"/etc/logvault/key.pem\"",
    },
    Key { path: "log.format", doc: "\"human\" or \"json\".", env: EnvValue::Text, secret: false, example: "\"json\"" },
    Key {
        path: "log.filter",
        doc: "A tracing filter such as \"info\" or \"info,logvault_server=debug\"; RUST_LOG overrides it.",
        env: EnvValue::Text,
        secret: false,
        example: "\"info,logvault_server=debug\"",
    },
    Key {
        path: "metrics.token",
        doc: "Bearer token that unlocks GET /metrics on the main listener; at least 32 characters.",
        env: EnvValue::Text,
        secret: true,
        example: "\"at-least-32-characters-e.g.-openssl-rand-hex-32\"",
    },
    Key {
        path: "metrics.listen",
        doc: "A separate plain-HTTP listener for /metrics; must be a loopback address.",
        env: EnvValue::Text,
        secret: false,
        example: "\"127.0.0.1:9464\"",
    },
    Key {
        path: "http.max_body_bytes",
        doc: "Largest accepted request body, in bytes.",
        env: EnvValue::Toml,
        secret: false,
        example: "2097152",
    },
    Key {
        path: "http.request_timeout_secs",
        doc: "Seconds before a request is answered with 408.",
        env: EnvValue::Toml,
        secret: false,
        example: "60",
    },
    Key {
        path: "http.header_read_timeout_secs",
        doc: "Seconds a client has to send its request headers before the connection is closed. This also ends idle\n\
              HTTP/1.1 keep-alive connections: a reverse proxy in front should keep its idle upstream connections for\n\
              less.",
        env: EnvValue::Toml,
        secret: false,
        example: "5",
    },
    Key {
        path: "http.trusted_proxies",
        doc: "Addresses of reverse proxies whose X-Forwarded-For is believed (for per-client throttling); from anyone\n\
              else it is ignored.",
        env: EnvValue::Toml,
        secret: false,
        example: "[\"127.0.0.1\"]",
    },
    Key {
        path: "smtp.host",
        doc: "The SMTP relay (submission server); unset disables email.",
        env: EnvValue::Text,
        secret: false,
        example: "\"smtp.example.com\"",
    },
    Key {
        path: "smtp.port",
        doc: "587 for STARTTLS (submission), 465 for implicit TLS (submissions).",
        env: EnvValue::Toml,
        secret: false,
        example: "465",
    },
    Key {
        path: "smtp.security",
        doc: "\"starttls\" (a plain connection upgraded with STARTTLS, which is required), \"tls\" (TLS from the first\n\
              byte) or \"none\" (no encryption at all: only for a relay on the same host or in tests; credentials are\n\
              refused with it). The server certificate is checked against the system's trust store.",
        env: EnvValue::Text,
        secret: false,
        example: "\"tls\"",
    },
    Key {
        path: "smtp.username",
        doc: "User name for SMTP authentication; set together with password.",
        env: EnvValue::Text,
        secret: false,
        example: "\"logvault@example.com\"",
    },
    Key {
        path: "smtp.password",
        doc: "Password for SMTP authentication.",
        env: EnvValue::Text,
        secret: true,
        example: "\"app-password\"",
    },
    Key {
        path: "smtp.from",
        doc: "Sender mailbox shown to recipients.",
        env: EnvValue::Text,
        secret: false,
        example: "\"Logvault <noreply@example.com>\"",
    },
    Key {
        path: "smtp.timeout_secs",
        doc: "Seconds for connecting and for each SMTP command before delivery is given up.",
        env: EnvValue::Toml,
        secret: false,
        example: "30",
    },
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
        let config = Config::layered(file, env, overrides)?;
        config.validate()?;
        Ok(config)
    }

    /// The layers merged, before the checks that relate keys to each other.
    fn layered(
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

impl Key {
    /// The environment variable, e.g. `LOGVAULT_HTTP__MAX_BODY_BYTES`.
    pub fn env_var(&self) -> String {
        format!("LOGVAULT_{}", self.env_suffix())
    }

    /// The variable without its `LOGVAULT_` prefix.
    fn env_suffix(&self) -> String {
        self.path.replace('.', "__").to_ascii_uppercase()
    }

    /// `(section, name)`: `(None, "listen")`, `(Some("http"), "max_body_bytes")`.
    fn split(&self) -> (Option<&'static str>, &'static str) {
        match self.path.split_once('.') {
            Some((section, name)) => (Some(section), name),
            None => (None, self.path),
        }
    }
}

/// A commented example configuration listing every key with its default (or, for a key unset by default, an
/// example), what it does and its environment variable; what `logvault config template` prints.
pub fn template() -> String {
    let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
    let mut out = String::from(
        "# logvault.toml — every key is optional; shown here with its default (or, when unset by default, an\n\
         # example). Precedence: defaults < this file < LOGVAULT_* environment variables (nested keys joined with\n\
         # \"__\", e.g. LOGVAULT_METRICS__TOKEN) < command-line flags.\n",
    );
    let mut section = None;
    for key in KEYS {
        let (key_section, name) = key.split();
        if key_section != section {
            section = key_section;
            if let Some(name) = key_section {
                out.push_str(&format!("\n[{name}]\n"));
                if let Some((_, doc)) = SECTIONS.iter().find(|(section, _)| *section == name) {
                    push_comment(&mut out, doc);
                }
            }
        } else if section.is_none() {
            out.push('\n');
        }
        push_comment(&mut out, key.doc);
        if key.secret {
            push_comment(&mut out, &format!("A secret: prefer {} to a file.", key.env_var()));
        }
        let shown = default_toml(&defaults, key).unwrap_or_else(|| key.example.to_owned());
        out.push_str(&format!("# {name} = {shown}  # {}\n", key.env_var()));
    }
    out
}

fn push_comment(out: &mut String, text: &str) {
    for line in text.lines() {
        out.push_str("# ");
        out.push_str(line.trim());
        out.push('\n');
    }
}

/// The default of `key` as a TOML value, or `None` when it is unset by default.
fn default_toml(defaults: &serde_json::Value, key: &Key) -> Option<String> {
    let value = key.path.split('.').try_fold(defaults, |value, part| value.get(part))?;
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(text) => Some(toml::Value::String(text.clone()).to_string()),
        serde_json::Value::Array(items) if items.is_empty() => Some("[]".to_owned()),
        other => Some(other.to_string()),
    }
}

/// The environment layer: known keys only, empty means unset, text keys verbatim.
fn env_layer(env: impl Fn(&str) -> Option<String>) -> toml::Table {
    let mut root = toml::Table::new();
    for key in KEYS {
        let Some(raw) = env(&key.env_suffix()).filter(|value| !value.is_empty()) else { continue };
        let value = if key.env == EnvValue::Text {
            toml::Value::String(raw)
        } else {
            toml::from_str::<toml::Table>(&format!("v = {raw}"))
                .ok()
                .and_then(|mut table| table.remove("v"))
                .unwrap_or(toml::Value::String(raw))
        };
        let mut table = &mut root;
        let mut parts = key.path.split('.').peekable();
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

    /// Every dotted key path of a configuration, `None`s included (JSON keeps them as nulls, TOML drops them).
    fn paths_of(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        match value.as_object() {
            Some(object) if prefix.is_empty() || !object.is_empty() => {
                for (name, value) in object {
                    let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
                    match value.is_object() {
                        true => paths_of(value, &path, out),
                        false => out.push(path),
                    }
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }

    fn value_at<'v>(value: &'v serde_json::Value, path: &str) -> &'v serde_json::Value {
        path.split('.').fold(value, |value, part| &value[part])
    }

    #[test]
    fn every_config_field_is_in_the_key_table_once_and_the_table_names_no_other() {
        let mut fields = Vec::new();
        paths_of(&serde_json::to_value(Config::default()).unwrap(), "", &mut fields);
        fields.sort();
        let mut keys: Vec<String> = KEYS.iter().map(|key| key.path.to_owned()).collect();
        keys.sort();
        assert_eq!(fields, keys);
        let sections: Vec<&str> = KEYS.iter().filter_map(|key| key.split().0).collect();
        for (section, _) in SECTIONS {
            assert!(sections.contains(section), "no key in section {section}");
        }
    }

    #[test]
    fn the_template_parses_back_into_the_defaults() {
        let template = template();
        let defaults = serde_json::to_value(Config::default()).unwrap();
        // The keys the template shows with their default, uncommented, make exactly the default configuration.
        let mut section = None;
        let mut shown_defaults = String::new();
        for line in template.lines() {
            if line.starts_with('[') {
                section = Some(line.trim_matches(['[', ']']).to_owned());
                shown_defaults.push_str(line);
                shown_defaults.push('\n');
            } else if let Some((name, _)) = line.strip_prefix("# ").and_then(|body| body.split_once(" = ")) {
                let path = section.as_ref().map_or(name.to_owned(), |section| format!("{section}.{name}"));
                if !value_at(&defaults, &path).is_null() {
                    shown_defaults.push_str(&line[2..]);
                    shown_defaults.push('\n');
                }
            }
        }
        let parsed: Config = toml::from_str(&shown_defaults).unwrap();
        assert_eq!(serde_json::to_value(parsed).unwrap(), defaults);
        // Each key appears once, with its environment variable.
        for key in KEYS {
            let name = key.split().1;
            let line = format!("# {name} = ");
            assert!(template.lines().any(|l| l.starts_with(&line) && l.ends_with(&key.env_var())), "{}", key.path);
        }
    }

    #[test]
    fn each_environment_variable_sets_its_own_key() {
        let defaults = serde_json::to_value(Config::default()).unwrap();
        for key in KEYS {
            let raw = key.example.trim_matches('"').to_owned();
            let suffix = key.env_suffix();
            let env = move |name: &str| (name == suffix).then(|| raw.clone());
            // Without the cross-key checks: a username alone is refused by them, not by the mapping.
            let config = Config::layered(None, env, &Overrides::default()).unwrap_or_else(|err| panic!("{err}"));
            let value = serde_json::to_value(&config).unwrap();
            let mut changed = Vec::new();
            paths_of(&value, "", &mut changed);
            changed.retain(|path| value_at(&value, path) != value_at(&defaults, path));
            assert_eq!(changed, [key.path], "{}", key.env_var());
            let shown = value_at(&value, key.path);
            match key.secret {
                // A secret is shown redacted, never as given.
                true => {
                    let shown = shown.as_str().unwrap_or_default();
                    assert!(shown.contains("[redacted]") && !shown.contains("password"), "{}: {shown}", key.path);
                }
                false => assert_eq!(toml::Value::try_from(shown).unwrap().to_string(), key.example, "{}", key.path),
            }
        }
    }

    #[test]
    fn the_template_names_every_key_and_its_examples_form_a_valid_configuration() {
        let uncommented: String = template()
            .lines()
            .filter_map(|line| {
                let body = line.strip_prefix("# ").unwrap_or(line);
                let body = body.split_once("  # ").map_or(body, |(assignment, _)| assignment);
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
