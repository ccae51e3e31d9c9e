//! Operator commands that act on the data directly: `logvault admin bootstrap`, `logvault user …`,
//! `logvault token create`, `logvault audit …`, `logvault retention …`.
//!
//! Whoever runs them holds the data directory and the master key, so they use `OrgScope::for_operator`; every
//! change they make is audited with the actor `cli`.

use std::io::Read;

use anyhow::Context;
use clap::Subcommand;
use logvault_core::audit::{self, AuditAction, NewEntry, Outcome};
use logvault_core::authz::Role;
use logvault_core::retention::Retention;
use logvault_core::{Email, OrgName, password};
use logvault_server::auth::now_us;
use logvault_server::bootstrap::{self, Migrations};
use logvault_server::config::Config;
use logvault_store::{OrgScope, StoreError};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user in an organisation (created if it does not exist yet)
    Create {
        /// Organisation name
        #[arg(long)]
        org: String,
        /// Email address (the sign-in name)
        #[arg(long)]
        email: String,
        /// Display name [default: the part of the email before the @]
        #[arg(long)]
        name: Option<String>,
        /// Role in the organisation: owner, admin, operator, viewer or auditor
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Read the password from standard input (one line); without it the user has no password
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (read from standard input, one line) and sign them out everywhere: for someone locked
    /// out, or a member without a password whose organisation starts requiring a second factor
    SetPassword {
        /// Email address of the user
        #[arg(long)]
        email: String,
        /// Read the password from standard input (required: passwords never go on the command line)
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable an account: it can no longer sign in, and its sessions and API tokens are revoked at once
    Disable {
        /// Email address of the user
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled account again (its old sessions and tokens stay revoked)
    Enable {
        /// Email address of the user
        #[arg(long)]
        email: String,
    },
    /// Clear a user's failed sign-in counters (after a lockout, e.g. 100 consecutive failures)
    Unlock {
        /// Email address of the user
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create the first organisation and its owner (no password yet) and print a one-time setup link, valid 24
    /// hours, where the owner chooses a password. Refused once any user exists.
    Bootstrap {
        /// Organisation name
        #[arg(long)]
        org: String,
        /// Email address of the owner
        #[arg(long)]
        email: String,
        /// Display name [default: the part of the email before the @]
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token acting for a member of an organisation; prints the token once, on standard output
    Create {
        /// Organisation name
        #[arg(long)]
        org: String,
        /// Email address of the member the token acts for
        #[arg(long)]
        email: String,
        /// A label saying what the token is for
        #[arg(long)]
        name: String,
        /// Role of the token; at most the member's own [default: the member's role]
        #[arg(long)]
        role: Option<String>,
        /// Days until the token expires (1 to 365)
        #[arg(long, default_value_t = logvault_server::app::tokens::DEFAULT_TOKEN_DAYS)]
        expires: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Register a device in an organisation and print its new key once (32 hex digits, on standard output) for the
    /// firmware or `logvault sim link --key`
    Add {
        /// Organisation name
        #[arg(long)]
        org: String,
        /// Device serial (1-32 characters of A-Z, a-z, 0-9, '-'), unique across the instance
        #[arg(long)]
        serial: String,
        /// Display name [default: the serial]
        #[arg(long)]
        name: Option<String>,
        /// Id of the organisation's site the device belongs to
        #[arg(long)]
        site_id: Option<i64>,
        /// A JSON file with the logger model (channels with their resolution tables, memory, interval); blocks
        /// must then match it
        #[arg(long, value_name = "FILE")]
        model: Option<std::path::PathBuf>,
    },
}

pub async fn device(config: Config, command: DeviceCommand) -> anyhow::Result<()> {
    let DeviceCommand::Add { org, serial, name, site_id, model } = command;
    let org = OrgName::parse(&org)?;
    let model: Option<logvault_server::devices::DeviceModel> = match model {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("could not read the model file {}", path.display()))?;
            Some(serde_json::from_str(&text).context("the model file is not a valid logger model")?)
        }
        None => None,
    };
    let opened = bootstrap::open(&config, Migrations::Apply).await?;
    let store = opened.store;
    let wrapping_key = opened.master_key.derive(logvault_core::custody::DATA_KEY_WRAP_PURPOSE);
    let result = async {
        let organisation = match store.organisation_by_name(&org).await {
            Ok(found) => found,
            Err(StoreError::NotFound { .. }) => anyhow::bail!("no organisation has this name"),
            Err(err) => return Err(err.into()),
        };
        let scope = OrgScope::for_operator(organisation.id);
        let (device, key) = logvault_server::app::devices::register(
            store.as_ref(),
            &wrapping_key,
            &scope,
            &serial,
            name.as_deref(),
            site_id,
            model.as_ref(),
        )
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?;
        store
            .append_audit(NewEntry {
                chain_id: organisation.id,
                occurred_at_us: now_us(),
                actor: "cli".to_owned(),
                action: AuditAction::DeviceCreate.into(),
                target: Some(format!("device:{}", device.serial)),
                outcome: Outcome::Success,
                request_id: None,
                detail: Some("key:generation-0".to_owned()),
            })
            .await?;
        eprintln!(
            "registered device {} in organisation {}; its key is shown only this once:",
            device.serial, organisation.name
        );
        let key_hex = zeroize::Zeroizing::new(hex::encode(key.as_slice()));
        println!("{}", key_hex.as_str());
        Ok(())
    }
    .await;
    store.close().await;
    result
}

#[derive(Debug, Subcommand)]
pub enum ManufacturerCommand {
    /// Create a manufacturer's upload token (for `POST /api/v1/manufacturing/devices`); prints it once, on standard
    /// output
    Token {
        /// A label naming the manufacturer or production line
        #[arg(long)]
        name: String,
        /// Days until the token expires (1 to 365)
        #[arg(long, default_value_t = 90)]
        expires: u32,
    },
}

pub async fn manufacturer(config: Config, command: ManufacturerCommand) -> anyhow::Result<()> {
    let ManufacturerCommand::Token { name, expires } = command;
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        anyhow::bail!("the token name must be 1 to 100 printable characters");
    }
    if !(1..=365).contains(&expires) {
        anyhow::bail!("expiry must be 1 to 365 days");
    }
    let secret = logvault_core::token::SecretToken::generate(logvault_server::auth::MANUFACTURER_TOKEN_PREFIX)?;
    let opened = bootstrap::open(&config, Migrations::Apply).await?;
    let store = opened.store;
    let result = async {
        let now = now_us();
        let expires_at_us = now.saturating_add(i64::from(expires) * 86_400_000_000);
        let token = store.create_manufacturer_token(&name, &secret.digest(), now, expires_at_us).await?;
        store
            .append_audit(NewEntry {
                chain_id: audit::INSTANCE_CHAIN,
                occurred_at_us: now,
                actor: "cli".to_owned(),
                action: AuditAction::ManufacturingTokenCreate.into(),
                target: Some(format!("manufacturer-token:{}", token.id)),
                outcome: Outcome::Success,
                request_id: None,
                detail: Some(format!("days:{expires}")),
            })
            .await?;
        eprintln!("created manufacturer token {} ({expires} days); it is shown only this once:", token.id);
        println!("{}", secret.expose());
        Ok(())
    }
    .await;
    store.close().await;
    result
}

/// How long the bootstrap setup link stays valid.
const SETUP_LINK_HOURS: u32 = 24;

pub async fn admin(config: Config, command: AdminCommand) -> anyhow::Result<()> {
    let AdminCommand::Bootstrap { org, email, name } = command;
    let org = OrgName::parse(&org)?;
    let email = Email::parse(&email)?;
    let name = name.unwrap_or_else(|| email.local_part().to_owned());
    let opened = bootstrap::open(&config, Migrations::Apply).await?;
    let store = opened.store;
    let result = async {
        if store.count_users().await? > 0 {
            anyhow::bail!("this instance is already set up (users exist); invite people from the organisation instead");
        }
        let organisation = match store.organisation_by_name(&org).await {
            Ok(found) => found,
            Err(StoreError::NotFound { .. }) => store.create_organisation(&org).await?,
            Err(err) => return Err(err.into()),
        };
        let now = now_us();
        let user = store.create_user(&email, &name, None, now).await?;
        let scope = OrgScope::for_operator(organisation.id);
        store.add_member(&scope, user.id, Role::Owner, now).await?;
        let secret = logvault_core::token::SecretToken::generate("")?;
        let invitation = store
            .create_invitation(
                &scope,
                logvault_store::NewInvitation {
                    email: email.clone(),
                    role: Role::Owner,
                    token_hash: secret.digest(),
                    invited_by: None,
                    purpose: logvault_store::InvitationPurpose::Setup,
                    now_us: now,
                    expires_at_us: now.saturating_add(i64::from(SETUP_LINK_HOURS) * 3_600_000_000),
                },
            )
            .await?;
        store
            .append_audit(NewEntry {
                chain_id: organisation.id,
                occurred_at_us: now,
                actor: "cli".to_owned(),
                action: AuditAction::OrgBootstrap.into(),
                target: Some(format!("user:{}", user.id)),
                outcome: Outcome::Success,
                request_id: None,
                detail: Some(format!("role:owner;invitation:{}", invitation.id)),
            })
            .await?;
        eprintln!(
            "created organisation {} (id {}) with owner user {}; open this link within {SETUP_LINK_HOURS} hours to \
             choose a password (single use):",
            organisation.name, organisation.id, user.id
        );
        println!("{}/invite#{}", config.public_base_url(), secret.expose());
        Ok(())
    }
    .await;
    store.close().await;
    result
}

pub async fn token(config: Config, command: TokenCommand) -> anyhow::Result<()> {
    let TokenCommand::Create { org, email, name, role, expires } = command;
    let org = OrgName::parse(&org)?;
    let email = Email::parse(&email)?;
    let role = role.as_deref().map(Role::parse).transpose()?;
    let opened = bootstrap::open(&config, Migrations::Apply).await?;
    let store = opened.store;
    let result = async {
        let organisation = match store.organisation_by_name(&org).await {
            Ok(found) => found,
            Err(StoreError::NotFound { .. }) => anyhow::bail!("no organisation has this name"),
            Err(err) => return Err(err.into()),
        };
        let user = user_by_email(store.as_ref(), &email).await?;
        if user.disabled {
            anyhow::bail!("this user is disabled");
        }
        let (scope, member_role) = match store.scope_for_member(user.id, organisation.id).await {
            Ok(found) => found,
            Err(StoreError::NotFound { .. }) => anyhow::bail!("this user is not a member of the organisation"),
            Err(err) => return Err(err.into()),
        };
        let (name, role, days) = logvault_server::app::tokens::check_request(member_role, &name, role, Some(expires))
            .map_err(|reason| anyhow::anyhow!(reason))?;
        let (secret, record) = logvault_server::app::tokens::mint(user.id, name, role, days)
            .map_err(|_| anyhow::anyhow!("the operating system random number generator failed"))?;
        let token = store.create_api_token(&scope, record).await?;
        store
            .append_audit(NewEntry {
                chain_id: organisation.id,
                occurred_at_us: now_us(),
                actor: "cli".to_owned(),
                action: AuditAction::TokenCreate.into(),
                target: Some(format!("token:{}", token.id)),
                outcome: Outcome::Success,
                request_id: None,
                detail: Some(format!("role:{role};days:{days};user:{}", user.id)),
            })
            .await?;
        eprintln!("created API token {} ({role}, expires in {days} days); it is shown only this once:", token.id);
        println!("{}", secret.expose());
        Ok(())
    }
    .await;
    store.close().await;
    result
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every audit chain; fails and names the first broken entry if any was changed, removed or reordered
    Verify,
}

pub async fn user(config: Config, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create { org, email, name, role, password_stdin } => {
            create_user(config, org, email, name, role, password_stdin).await
        }
        UserCommand::Unlock { email } => unlock_user(config, email).await,
        UserCommand::SetPassword { email, password_stdin: _ } => set_password(config, email).await,
        UserCommand::Disable { email } => set_disabled(config, email, true).await,
        UserCommand::Enable { email } => set_disabled(config, email, false).await,
    }
}

/// The user with this address, or the one-line error that there is none.
async fn user_by_email(store: &dyn logvault_store::Store, email: &Email) -> anyhow::Result<logvault_store::User> {
    match store.user_credentials(email).await {
        Ok(credentials) => Ok(credentials.user),
        Err(StoreError::NotFound { .. }) => anyhow::bail!("no user has this email address"),
        Err(err) => Err(err.into()),
    }
}

/// One line of standard input, without its line ending.
fn read_password_line() -> anyhow::Result<zeroize::Zeroizing<String>> {
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin().read_to_string(&mut line).context("could not read the password from standard input")?;
    let password = line.strip_suffix('\n').map(|p| p.strip_suffix('\r').unwrap_or(p)).unwrap_or(&line);
    Ok(zeroize::Zeroizing::new(password.to_owned()))
}

async fn set_password(config: Config, email: String) -> anyhow::Result<()> {
    let email = Email::parse(&email)?;
    let password = read_password_line()?;
    let opened = bootstrap::open(&config, Migrations::Apply).await?;
    let store = opened.store;
    let result = async {
        let user = user_by_email(store.as_ref(), &email).await?;
        let second_factor = store.totp(user.id).await?.is_some_and(|totp| totp.confirmed);
        let memberships = store.memberships(user.id).await?;
        let mut context = vec![email.as_str(), email.local_part(), user.name.as_str()];
        context.extend(memberships.iter().map(|m| m.organisation.name.as_str()));
        password::check_new_password(&password, &context, second_factor)
            .map_err(|reason| anyhow::anyhow!("{reason}"))?;
        let hash = password::hash_password(&password).context("could not hash the password")?;
        store.set_password_hash(user.id, hash.as_str()).await?;
        let revoked = store.revoke_other_sessions(user.id, None).await?;
        store.reset_sign_in_failures(user.id).await?;
        store
            .append_audit(NewEntry {
                chain_id: audit::INSTANCE_CHAIN,
                occurred_at_us: now_us(),
                actor: "cli".to_owned(),
                action: AuditAction::AuthPasswordChange.into(),
                target: Some(format!("user:{}", user.id)),
                outcome: Outcome::Success,
                request_id: None,
                detail: Some(format!("sessions-revoked:{revoked}")),
            })
            .await?;
        println!("set the password of user {} and signed them out everywhere", user.id);
        Ok(())
    }
    .await;
    store.close().await;
    result
}

async fn set_disabled(config: Config, email: String, disabled: bool) -> anyhow::Result<()> {
    let email = Email::parse(&email)?;
    let opened = bootstrap::open(&config, Migrations::Apply).await?;
    let store = opened.store;
    let result = async {
        let user = user_by_email(store.as_ref(), &email).await?;
        store.set_user_disabled(user.id, disabled).await?;
        store
            .append_audit(NewEntry {
                chain_id: audit::INSTANCE_CHAIN,
                occurred_at_us: now_us(),
                actor: "cli".to_owned(),
                action: if disabled { AuditAction::UserDisable } else { AuditAction::UserEnable }.into(),
                target: Some(format!("user:{}", user.id)),
                outcome: Outcome::Success,
                request_id: None,
                detail: disabled.then(|| "sessions:revoked;tokens:revoked".to_owned()),
            })
            .await?;
        println!("{} user {}", if disabled { "disabled" } else { "enabled" }, user.id);
        Ok(())
    }
    .await;
    store.close().await;
    result
}

async fn unlock_user(config: Config, email: String) -> anyhow::Result<()> {
    let email = Email::parse(&email)?;
    let opened = bootstrap::open(&config, Migrations::Apply).await?;
    let store = opened.store;
    let user = user_by_email(store.as_ref(), &email).await?;
    store.reset_sign_in_failures(user.id).await?;
    store
        .append_audit(NewEntry {
            chain_id: audit::INSTANCE_CHAIN,
            occurred_at_us: now_us(),
            actor: "cli".to_owned(),
            action: AuditAction::AuthUnlock.into(),
            target: Some(format!("user:{}", user.id)),
            outcome: Outcome::Success,
            request_id: None,
            detail: None,
        })
        .await?;
    store.close().await;
    println!("unlocked user {}", user.id);
    Ok(())
}

async fn create_user(
    config: Config,
    org: String,
    email: String,
    name: Option<String>,
    role: String,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let org = OrgName::parse(&org)?;
    let email = Email::parse(&email)?;
    let role = Role::parse(&role)?;
    let name = name.unwrap_or_else(|| email.local_part().to_owned());
    let password_hash = if password_stdin {
        let password = read_password_line()?;
        let context = [org.as_str(), email.as_str(), email.local_part(), name.as_str()];
        password::check_new_password(&password, &context, false).map_err(|reason| anyhow::anyhow!("{reason}"))?;
        Some(password::hash_password(&password).context("could not hash the password")?)
    } else {
        None
    };

    let opened = bootstrap::open(&config, Migrations::Apply).await?;
    let store = opened.store;
    let organisation = match store.organisation_by_name(&org).await {
        Ok(found) => found,
        Err(StoreError::NotFound { .. }) => store.create_organisation(&org).await?,
        Err(err) => return Err(err.into()),
    };
    let now = now_us();
    let user = match store.create_user(&email, &name, password_hash.as_ref().map(|h| h.as_str()), now).await {
        Ok(user) => user,
        Err(StoreError::Conflict { .. }) => anyhow::bail!("a user with this email address already exists"),
        Err(err) => return Err(err.into()),
    };
    let scope = OrgScope::for_operator(organisation.id);
    store.add_member(&scope, user.id, role, now).await?;
    store
        .append_audit(NewEntry {
            chain_id: organisation.id,
            occurred_at_us: now,
            actor: "cli".to_owned(),
            action: AuditAction::MemberCreate.into(),
            target: Some(format!("user:{}", user.id)),
            outcome: Outcome::Success,
            request_id: None,
            detail: Some(format!("role:{}", role.as_str())),
        })
        .await?;
    store.close().await;
    println!("created user {} in organisation {} (id {}) as {}", user.id, organisation.name, organisation.id, role);
    Ok(())
}

pub async fn verify(config: Config) -> anyhow::Result<()> {
    let opened = bootstrap::open(&config, Migrations::Leave).await?;
    let store = opened.store;
    let wrapping_key = opened.master_key.derive(logvault_core::custody::DATA_KEY_WRAP_PURPOSE);
    let reports = logvault_server::app::verify::verify_all(store.as_ref(), &wrapping_key).await;
    store.close().await;
    let mut first = None;
    for report in reports? {
        match report.finding {
            None => println!("device {}: {} blocks, intact", report.serial, report.blocks),
            Some(finding) => {
                println!("device {}: BROKEN: {finding}", report.serial);
                first.get_or_insert(finding);
            }
        }
    }
    match first {
        None => Ok(()),
        Some(finding) => anyhow::bail!("verification failed: {finding}"),
    }
}

pub async fn audit(config: Config, command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Verify = command;
    let opened = bootstrap::open(&config, Migrations::Leave).await?;
    let store = opened.store;
    let mut broken = Vec::new();
    for chain_id in store.audit_chain_ids().await? {
        let (entries, verdict) = logvault_server::app::audit::read_and_verify_chain(store.as_ref(), chain_id).await?;
        match verdict {
            Ok(()) => println!("chain {chain_id}: {} entries, intact", entries.len()),
            Err(err) => {
                println!("chain {chain_id}: BROKEN: {err}");
                broken.push(err);
            }
        }
    }
    store.close().await;
    match broken.first() {
        None => Ok(()),
        Some(first) => anyhow::bail!("audit log verification failed: {first}"),
    }
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Show an organisation's retention: how many days of measurements it keeps, or "indefinite" (the default)
    Show {
        #[arg(long)]
        org: String,
    },
    /// Set an organisation's retention: at least 731 days (two years), or "indefinite" to keep everything
    Set {
        #[arg(long)]
        org: String,
        /// Whole days (731 to 36525), or "indefinite"
        #[arg(long, value_name = "DAYS")]
        days: String,
    },
    /// Remove measurements and blocks older than their organisation's retention now (the server also does this
    /// hourly); prints what was removed per device. Organisations without a retention keep everything
    Purge {
        /// Only this organisation [default: every organisation]
        #[arg(long)]
        org: Option<String>,
    },
}

/// `DAYS` of `logvault retention set`: a retention, or `None` for "indefinite".
fn parse_retention(days: &str) -> anyhow::Result<Option<Retention>> {
    if days.eq_ignore_ascii_case("indefinite") {
        return Ok(None);
    }
    let days: i64 =
        days.parse().map_err(|_| anyhow::anyhow!("--days must be a whole number of days or \"indefinite\""))?;
    Ok(Some(Retention::from_days(days)?))
}

fn describe_retention(retention: Option<Retention>) -> String {
    match retention {
        Some(retention) => format!("{} days", retention.days()),
        None => "indefinite".to_owned(),
    }
}

pub async fn retention(config: Config, command: RetentionCommand) -> anyhow::Result<()> {
    match command {
        RetentionCommand::Show { org } => {
            let org = OrgName::parse(&org)?;
            let opened = bootstrap::open(&config, Migrations::Leave).await?;
            let store = opened.store;
            let result = async {
                let organisation = store.organisation_by_name(&org).await.context("no such organisation")?;
                let retention = store.retention(&OrgScope::for_operator(organisation.id)).await?;
                println!("{}: {}", organisation.name, describe_retention(retention));
                Ok(())
            }
            .await;
            store.close().await;
            result
        }
        RetentionCommand::Set { org, days } => {
            let org = OrgName::parse(&org)?;
            let retention = parse_retention(&days)?;
            let opened = bootstrap::open(&config, Migrations::Apply).await?;
            let store = opened.store;
            let result = async {
                let organisation = store.organisation_by_name(&org).await.context("no such organisation")?;
                store.set_retention(&OrgScope::for_operator(organisation.id), retention).await?;
                let detail = match retention {
                    Some(retention) => format!("days:{}", retention.days()),
                    None => "days:indefinite".to_owned(),
                };
                store
                    .append_audit(NewEntry {
                        chain_id: organisation.id,
                        occurred_at_us: now_us(),
                        actor: "cli".to_owned(),
                        action: AuditAction::RetentionSet.into(),
                        target: None,
                        outcome: Outcome::Success,
                        request_id: None,
                        detail: Some(detail),
                    })
                    .await?;
                println!("{}: retention {}", organisation.name, describe_retention(retention));
                Ok(())
            }
            .await;
            store.close().await;
            result
        }
        RetentionCommand::Purge { org } => purge(config, org).await,
    }
}

async fn purge(config: Config, org: Option<String>) -> anyhow::Result<()> {
    let org = org.map(|name| OrgName::parse(&name)).transpose()?;
    let opened = bootstrap::open(&config, Migrations::Leave).await?;
    let store = opened.store;
    let result = async {
        let only = match &org {
            Some(name) => Some(store.organisation_by_name(name).await.context("no such organisation")?),
            None => None,
        };
        let now_s = i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the clock is before 1970")?
                .as_secs(),
        )
        .context("the clock is out of range")?;
        let reports = logvault_server::app::retention::purge(store.as_ref(), only.as_ref(), "cli", now_s).await?;
        for (organisation, report) in &reports {
            for device in &report.devices {
                println!(
                    "{}: device {}: removed {} blocks and {} measurements; the chain now starts at block {}",
                    organisation.name.as_str(),
                    device.serial,
                    device.blocks_removed,
                    device.measurements_removed,
                    device.first_retained_seq
                );
            }
        }
        let blocks: u64 = reports.iter().map(|(_, r)| r.blocks_removed()).sum();
        let measurements: u64 = reports.iter().map(|(_, r)| r.measurements_removed()).sum();
        println!("retention purge: removed {blocks} blocks and {measurements} measurements");
        Ok(())
    }
    .await;
    store.close().await;
    result
}
