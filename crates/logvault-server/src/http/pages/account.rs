//! `/account`: the signed-in person's own settings — the second factor (TOTP enrolment with its QR code, the
//! recovery codes shown once) and their sessions.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{Method, header};
use axum::response::Response;
use base64::Engine as _;
use serde::Deserialize;

use super::{Nav, html, see_other, when_us};
use crate::app::{mfa, sign_in};
use crate::auth::{self, Principal};
use crate::error::ApiError;
use crate::http::path::ApiPath;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .add(Method::GET, "/account", Access::Session, Doc::new("Your account"), account)
        .add(Method::POST, "/account/mfa", Access::Session, Doc::new("Start TOTP enrolment"), start_enrolment)
        .add(Method::POST, "/account/mfa/confirm", Access::Session, Doc::new("Confirm TOTP"), confirm_enrolment)
        .add(
            Method::POST,
            "/account/sessions/{session_id}/revoke",
            Access::Session,
            Doc::new("Sign out one of your sessions"),
            revoke_session,
        )
        .add(
            Method::POST,
            "/account/sessions/revoke-others",
            Access::Session,
            Doc::new("Sign out everywhere else"),
            revoke_others,
        )
}

/// A started enrolment as the page shows it.
#[derive(Debug)]
struct EnrolmentView {
    qr_data_uri: String,
    secret: String,
}

/// One session as the page shows it: `(shown, RFC 3339)` times.
#[derive(Debug)]
struct SessionRow {
    id: i64,
    created: (String, String),
    last_seen: (String, String),
    current: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Option<Nav>,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    second_factor: bool,
    enrolment: Option<EnrolmentView>,
    recovery_codes: Option<Vec<String>>,
    sessions: Vec<SessionRow>,
}

impl AccountPage {
    async fn of(state: &AppState, principal: &Principal) -> Result<AccountPage, ApiError> {
        let current = principal.session_id();
        let sessions = sign_in::live_sessions(state, principal)
            .await?
            .into_iter()
            .map(|s| SessionRow {
                id: s.id,
                created: when_us(s.created_at_us),
                last_seen: when_us(s.last_seen_us),
                current: Some(s.id) == current,
            })
            .collect();
        Ok(AccountPage {
            nav: Some(Nav::load(state, principal, None, "account").await?),
            csrf: principal.csrf_token(state).unwrap_or_default(),
            notice: None,
            error: None,
            second_factor: auth::has_second_factor(state, principal.user.id).await?,
            enrolment: None,
            recovery_codes: None,
            sessions,
        })
    }
}

#[derive(Debug, Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

async fn account(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, ApiError> {
    let mut page = AccountPage::of(&state, &principal).await?;
    page.notice = match query.notice.as_deref() {
        Some("welcome") => Some(
            "Your organisation is ready. Protect your account with an authenticator app now; then register your \
             first logger from the Devices page."
                .to_owned(),
        ),
        Some("mfa-required") => Some(
            "An organisation you belong to requires a second factor: set up an authenticator app to continue."
                .to_owned(),
        ),
        Some("sessions") => Some("The other sessions are signed out.".to_owned()),
        _ => None,
    };
    html(&page)
}

/// The password that starts enrolment. No `Debug`: it is a secret.
#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    password: String,
}

async fn start_enrolment(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<PasswordForm>,
) -> Result<Response, ApiError> {
    let mut page = AccountPage::of(&state, &principal).await?;
    match mfa::start_enrolment(&state, &principal, form.password).await {
        Ok(enrolment) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(enrolment.qr_svg.as_bytes());
            page.enrolment = Some(EnrolmentView {
                qr_data_uri: format!("data:image/svg+xml;base64,{encoded}"),
                secret: enrolment.secret_base32,
            });
            html(&page)
        }
        Err(ApiError::InvalidCredentials) => {
            page.error = Some("That password is wrong.".to_owned());
            html(&page)
        }
        Err(err) => Err(err),
    }
}

/// The first code from the app. No `Debug`: it is a secret.
#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
}

async fn confirm_enrolment(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<CodeForm>,
) -> Result<Response, ApiError> {
    match mfa::confirm_enrolment(&state, &principal, form.code.trim()).await {
        Ok(confirmed) => {
            let (cookie, csrf) = confirmed.session;
            let mut page = AccountPage::of(&state, &principal).await?;
            // The session was rotated: the page's forms carry the new session's token.
            if let Some(nav) = page.nav.as_mut() {
                nav.csrf.clone_from(&csrf);
            }
            page.csrf = csrf;
            page.sessions.retain(|s| s.current);
            page.notice = Some("The second factor is on. Every other session was signed out.".to_owned());
            page.recovery_codes = Some(confirmed.recovery_codes);
            let mut response = html(&page)?;
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            Ok(response)
        }
        Err(ApiError::InvalidCode | ApiError::Unprocessable(_)) => {
            let mut page = AccountPage::of(&state, &principal).await?;
            page.error =
                Some("That code did not match. Start again and enter the code the app shows right now.".to_owned());
            html(&page)
        }
        Err(err) => Err(err),
    }
}

async fn revoke_session(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(session_id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    sign_in::revoke_own_session(&state, &principal, session_id).await?;
    Ok(see_other("/account"))
}

async fn revoke_others(State(state): State<AppState>, principal: Principal) -> Result<Response, ApiError> {
    sign_in::revoke_other_sessions(&state, &principal).await?;
    Ok(see_other("/account?notice=sessions"))
}
