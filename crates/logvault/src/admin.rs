//! Operator commands that act on the data directly: `logvault user …`, `logvault audit …`.
//!
//! Whoever runs them holds the data directory and the master key, so they use `OrgScope::for_operator`; every
//! change they make is audited with the actor `cli`.

use std::io::Read;

use anyhow::Context;
use clap::Subcommand;
use logvault_core::audit::{self, NewEntry, Outcome};
use logvault_core::authz::Role;
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
    /// Clear a user's failed sign-in counters (after a lockout, e.g. 100 consecutive failures)
    Unlock {
        /// Email address of the user
        #[arg(long)]
        email: String,
    },
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
    }
}

async fn unlock_user(config: Config, email: String) -> anyhow::Result<()> {
    let email = Email::parse(&email)?;
    let opened = bootstrap::open(&config, Migrations::Apply).await?;
    let store = opened.store;
    let user = match store.user_credentials(&email).await {
        Ok(credentials) => credentials.user,
        Err(StoreError::NotFound { .. }) => anyhow::bail!("no user has this email address"),
        Err(err) => return Err(err.into()),
    };
    store.reset_sign_in_failures(user.id).await?;
    store
        .append_audit(NewEntry {
            chain_id: audit::INSTANCE_CHAIN,
            occurred_at_us: now_us(),
            actor: "cli".to_owned(),
            action: "auth.unlock".to_owned(),
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
        let mut line = String::new();
        std::io::stdin().read_to_string(&mut line).context("could not read the password from standard input")?;
        let password = line.strip_suffix('\n').map(|p| p.strip_suffix('\r').unwrap_or(p)).unwrap_or(&line);
        let context = [org.as_str(), email.as_str(), email.local_part(), name.as_str()];
        password::check_new_password(password, &context, false).map_err(|reason| anyhow::anyhow!("{reason}"))?;
        Some(password::hash_password(password).context("could not hash the password")?)
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
            action: "member.create".to_owned(),
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

pub async fn audit(config: Config, command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Verify = command;
    let opened = bootstrap::open(&config, Migrations::Leave).await?;
    let store = opened.store;
    let mut broken = Vec::new();
    for chain_id in store.audit_chain_ids().await? {
        let mut entries = Vec::new();
        loop {
            let after = entries.last().map_or(0, |e: &audit::Entry| e.seq);
            let page = store.audit_entries(chain_id, after, 1000).await?;
            if page.is_empty() {
                break;
            }
            entries.extend(page);
        }
        let head = store.audit_head(chain_id).await?;
        match audit::verify_chain(chain_id, &entries, head) {
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
