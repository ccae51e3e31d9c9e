//! Joining an organisation: accepting an invitation (or the operator's setup link), and the first-run set-up of an
//! empty instance.
//!
//! Both take their secret from a link's fragment, which browsers never send to a server or put in a `Referer`; the
//! page or API client posts it. Input is checked before the secret is spent, so a typing mistake leaves the link
//! usable.

use std::sync::Mutex;

use logvault_core::audit::{AuditAction, NewEntry, Outcome};
use logvault_core::authz::{self, Role};
use logvault_core::{Email, OrgName, password, token};
use logvault_store::{Acceptance, Invitation, InvitationPurpose, NewInvitation, OrgScope, StoreError};
use subtle::ConstantTimeEq;

use crate::app::audit::org_event;
use crate::auth::{self, OrgAccess, Principal, now_us};
use crate::error::ApiError;
use crate::state::AppState;

/// How long an invitation link stays valid.
pub const INVITATION_DAYS: u32 = 7;
const DAY_US: i64 = 24 * 60 * 60 * 1_000_000;

/// An invitation made, and how it reaches the invitee.
#[derive(Debug)]
pub struct Invited {
    pub invitation: Invitation,
    /// Whether the link went out by email.
    pub emailed: bool,
    /// The link, when the server has no SMTP configured: for the inviter to pass on.
    pub link: Option<String>,
}

/// The link a person opens to accept: the token travels in the fragment, which browsers never send to a server or
/// put in a `Referer`, so it stays out of access logs.
pub fn invitation_link(state: &AppState, token: &str) -> String {
    format!("{}/invite#{token}", state.public_url)
}

/// Invites `email` to the organisation with `role` (the caller checked that their role may give it): a
/// single-use link valid [`INVITATION_DAYS`], emailed when SMTP is configured, else returned.
pub async fn invite(
    state: &AppState,
    principal: &Principal,
    access: &OrgAccess,
    email: Email,
    role: Role,
) -> Result<Invited, ApiError> {
    let secret = token::SecretToken::generate("").map_err(|err| ApiError::Internal(err.into()))?;
    let now = now_us();
    let invitation = state
        .store
        .create_invitation(
            &access.scope,
            NewInvitation {
                email: email.clone(),
                role,
                token_hash: secret.digest(),
                invited_by: Some(principal.user.id),
                purpose: InvitationPurpose::Invitation,
                now_us: now,
                expires_at_us: now.saturating_add(i64::from(INVITATION_DAYS) * DAY_US),
            },
        )
        .await?;
    let link = invitation_link(state, secret.expose());
    let organisation = state.store.organisation(&access.scope).await?;
    let emailed = match &state.mailer {
        Some(mailer) => {
            let mail =
                crate::mail::invitation(email, organisation.name.as_str(), role.as_str(), &link, INVITATION_DAYS);
            mailer.send_in_background(mail);
            true
        }
        None => false,
    };
    let detail = format!("role:{role};invitation:{}", invitation.id);
    org_event(state, principal, access, AuditAction::InvitationCreate, None, Some(detail)).await?;
    Ok(Invited { invitation, emailed, link: (!emailed).then_some(link) })
}

/// How long the first-run setup link stays valid (and at most as long as the process that printed it runs).
pub const FIRST_RUN_HOURS: i64 = 24;

/// What an accepted invitation gave.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub org_id: i64,
    pub role: Role,
    pub user_id: i64,
    pub created_account: bool,
}

fn invalid_link() -> ApiError {
    ApiError::Unprocessable("the invitation link is wrong, used, revoked or expired".to_owned())
}

/// Accepts the invitation whose link carried `token`. For a new account a name is needed and a password optional
/// (without one, the account signs in by email code), checked like any new password. An existing account accepts
/// only when signed in as itself — holding the link proves nothing about the account — except through the operator's
/// setup link, which may also give the bootstrap owner their first password.
///
/// # Errors
/// [`ApiError::Unprocessable`] for a wrong, used, revoked or expired link, a missing name or a weak password.
pub async fn accept(
    state: &AppState,
    principal: Option<&Principal>,
    request_id: Option<String>,
    token: &str,
    name: Option<&str>,
    password: Option<String>,
) -> Result<Accepted, ApiError> {
    let token_hash = token::digest(token);
    let now = now_us();
    let (invitation, organisation) = match state.store.invitation_by_token(&token_hash, now).await {
        Ok(found) => found,
        Err(StoreError::NotFound { .. }) => return Err(invalid_link()),
        Err(err) => return Err(err.into()),
    };
    // An invitation is only as good as its inviter's right to give that role, now.
    if let Some(inviter) = invitation.invited_by {
        match state.store.scope_for_member(inviter, invitation.org_id).await {
            Ok((_, role)) if authz::may_assign(role, None, invitation.role) => {}
            Ok(_) | Err(StoreError::NotFound { .. }) => return Err(invalid_link()),
            Err(err) => return Err(err.into()),
        }
    }
    let existing = match state.store.user_credentials(&invitation.email).await {
        Ok(credentials) => Some(credentials),
        Err(StoreError::NotFound { .. }) => None,
        Err(err) => return Err(err.into()),
    };
    let name = name.map(str::trim).unwrap_or_default().to_owned();
    let wants_password = match (&existing, invitation.purpose) {
        (None, _) => true,
        (Some(credentials), InvitationPurpose::Setup) => credentials.password_hash.is_none(),
        (Some(_), InvitationPurpose::Invitation) => false,
    };
    if let (Some(credentials), InvitationPurpose::Invitation) = (&existing, invitation.purpose) {
        let signed_in_as_invitee =
            principal.is_some_and(|p| p.user.id == credentials.user.id && p.session_id().is_some());
        if !signed_in_as_invitee {
            return Err(ApiError::Unprocessable(
                "this invitation is for an existing account: sign in as that account, then accept".to_owned(),
            ));
        }
    }
    if existing.is_none() && (name.is_empty() || name.chars().count() > 200) {
        return Err(ApiError::Unprocessable("a name (1 to 200 characters) is needed for the new account".to_owned()));
    }
    let password_hash = match password.filter(|_| wants_password) {
        Some(password) => {
            let context = [invitation.email.as_str(), organisation.name.as_str(), name.as_str()];
            password::check_new_password(&password, &context, false)
                .map_err(|err| ApiError::Unprocessable(err.to_string()))?;
            let hash = auth::with_argon2_permit(state, move || password::hash_password(&password)).await?;
            Some(hash.map_err(|err| ApiError::Internal(err.into()))?)
        }
        None => None,
    };
    let password_hash = password_hash.as_ref().map(|h| h.as_str());
    let acceptance = match &existing {
        None => Acceptance::NewAccount { name: &name, password_hash },
        Some(credentials) => Acceptance::Existing { user_id: credentials.user.id, password_hash },
    };
    let accepted = match state.store.accept_invitation(&token_hash, now, acceptance).await {
        Ok(accepted) => accepted,
        // Used meanwhile, or the address's account appeared or changed meanwhile: nothing was changed.
        Err(StoreError::NotFound { .. } | StoreError::Conflict { .. }) => return Err(invalid_link()),
        Err(err) => return Err(err.into()),
    };
    auth::record(
        state,
        NewEntry {
            chain_id: accepted.org_id,
            occurred_at_us: now,
            actor: format!("user:{}", accepted.user.id),
            action: AuditAction::InvitationAccept.into(),
            target: Some(format!("user:{}", accepted.user.id)),
            outcome: Outcome::Success,
            request_id,
            detail: Some(format!(
                "role:{};invitation:{};{};account:{}",
                accepted.role,
                invitation.id,
                invitation.purpose.as_str(),
                if accepted.created_user { "created" } else { "existing" }
            )),
        },
    )
    .await?;
    Ok(Accepted {
        org_id: accepted.org_id,
        role: accepted.role,
        user_id: accepted.user.id,
        created_account: accepted.created_user,
    })
}

/// The one-time link `serve` prints while the instance has no account: whoever opens it names the first
/// organisation and becomes its owner. Held in memory only (a hash of it), so it lives at most as long as the
/// process, and at most [`FIRST_RUN_HOURS`]; a restart of an empty instance prints a new one.
#[derive(Default)]
pub struct FirstRun {
    pending: Mutex<Option<([u8; 32], i64)>>,
}

impl std::fmt::Debug for FirstRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstRun").finish_non_exhaustive()
    }
}

impl FirstRun {
    /// A first-run link for an empty instance: the state that checks it, and the token for the link's fragment.
    ///
    /// # Errors
    /// When the system's random source fails.
    pub fn issue() -> Result<(FirstRun, token::SecretToken), token::RandomError> {
        let secret = token::SecretToken::generate("")?;
        let expires = now_us().saturating_add(FIRST_RUN_HOURS * 3_600_000_000);
        Ok((FirstRun { pending: Mutex::new(Some((secret.digest(), expires))) }, secret))
    }

    /// Whether `presented` is the live first-run token (compared in constant time); does not spend it.
    pub fn is_live(&self, presented: &str) -> bool {
        let digest = token::digest(presented);
        let guard = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.is_some_and(|(hash, expires)| bool::from(hash.ct_eq(&digest)) && now_us() < expires)
    }

    /// Spends the token if `presented` is it: of two concurrent set-ups, one wins.
    fn spend(&self, presented: &str) -> bool {
        let digest = token::digest(presented);
        let mut guard = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let live = guard.is_some_and(|(hash, expires)| bool::from(hash.ct_eq(&digest)) && now_us() < expires);
        if live {
            *guard = None;
        }
        live
    }
}

/// What the first owner typed on the first-run page. No `Debug`: it holds a password.
pub struct FirstOwner<'a> {
    pub token: &'a str,
    pub organisation: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub password: String,
}

impl std::fmt::Debug for FirstOwner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstOwner").field("organisation", &self.organisation).finish_non_exhaustive()
    }
}

/// A field of a form and what is wrong with it, for the page to show next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// Why a first-run set-up was refused.
#[derive(Debug)]
pub enum SetUpError {
    /// The link is wrong, used or expired, or the instance already has an account.
    Link,
    /// Input to correct; the link stays usable.
    Field(FieldError),
    Other(ApiError),
}

impl From<ApiError> for SetUpError {
    fn from(err: ApiError) -> SetUpError {
        SetUpError::Other(err)
    }
}

impl From<StoreError> for SetUpError {
    fn from(err: StoreError) -> SetUpError {
        SetUpError::Other(err.into())
    }
}

fn field(field: &'static str, message: impl Into<String>) -> SetUpError {
    SetUpError::Field(FieldError { field, message: message.into() })
}

/// Sets up an empty instance: the organisation, its owner with a password, and an `org.bootstrap` audit entry in
/// the new organisation's chain. Returns the owner's user id.
///
/// # Errors
/// [`SetUpError::Field`] for input to correct (before the link is spent), [`SetUpError::Link`] when the link is not
/// the live one or an account exists already.
pub async fn set_up_first_organisation(
    state: &AppState,
    first_run: &FirstRun,
    owner: FirstOwner<'_>,
    request_id: Option<String>,
) -> Result<i64, SetUpError> {
    if !first_run.is_live(owner.token) || state.store.count_users().await? > 0 {
        return Err(SetUpError::Link);
    }
    let organisation = OrgName::parse(owner.organisation)
        .map_err(|err| field("organisation", format!("This name is not accepted: {err}.")))?;
    let name = owner.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(field("name", "Give your name (1 to 200 characters)."));
    }
    let email =
        Email::parse(owner.email).map_err(|err| field("email", format!("This is not an email address: {err}.")))?;
    let context = [email.as_str(), email.local_part(), organisation.as_str(), name];
    password::check_new_password(&owner.password, &context, false)
        .map_err(|reason| field("password", format!("This password is not accepted: {reason}.")))?;
    let secret = owner.password;
    let hash = auth::with_argon2_permit(state, move || password::hash_password(&secret)).await?;
    let hash = hash.map_err(|err| ApiError::Internal(err.into()))?;
    if !first_run.spend(owner.token) {
        return Err(SetUpError::Link);
    }
    let now = now_us();
    let created = state.store.create_organisation(&organisation).await?;
    let user = state.store.create_user(&email, name, Some(hash.as_str()), now).await?;
    state.store.add_member(&OrgScope::for_operator(created.id), user.id, Role::Owner, now).await?;
    auth::record(
        state,
        NewEntry {
            chain_id: created.id,
            occurred_at_us: now,
            actor: format!("user:{}", user.id),
            action: AuditAction::OrgBootstrap.into(),
            target: Some(format!("user:{}", user.id)),
            outcome: Outcome::Success,
            request_id,
            detail: Some("role:owner;first-run".to_owned()),
        },
    )
    .await?;
    Ok(user.id)
}
