//! Signing in and out in the browser: `/sign-in` (password), `/sign-in/code` (TOTP or recovery code), `/sign-out`,
//! and `/`, which sends each person where they belong.

use std::net::SocketAddr;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::Response;
use logvault_core::token;
use serde::Deserialize;

use super::{Nav, html, safe_next, see_other, see_other_with_cookie};
use crate::app::sign_in;
use crate::auth::{self, AnySession, PendingSecondFactor, Principal};
use crate::error::ApiError;
use crate::http::middleware::RequestId;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .add(Method::GET, "/", Access::Public, Doc::new("The start page"), start)
        .add(Method::GET, "/switch", Access::Session, Doc::new("Switch organisation"), switch)
        .add(Method::GET, "/sign-in", Access::Public, Doc::new("The sign-in page"), sign_in_page)
        .add(Method::POST, "/sign-in", Access::Public, Doc::new("Sign in with a password"), sign_in_post)
        .add(Method::GET, "/sign-in/code", Access::PendingSecondFactor, Doc::new("The second-factor page"), code_page)
        .add(Method::POST, "/sign-in/code", Access::PendingSecondFactor, Doc::new("Give the second factor"), code_post)
        .add(Method::POST, "/sign-out", Access::AnySession, Doc::new("Sign out"), sign_out)
}

/// `/`: a signed-in person goes to their first organisation (or their account page if they have none); anyone else
/// to the sign-in page.
async fn start(State(state): State<AppState>, principal: Option<Principal>) -> Result<Response, ApiError> {
    let Some(principal) = principal else { return Ok(see_other("/sign-in")) };
    let memberships = state.store.memberships(principal.user.id).await?;
    Ok(match memberships.first() {
        Some(membership) => see_other(&format!("/orgs/{}", membership.organisation.id)),
        None => see_other("/account"),
    })
}

#[derive(Debug, Deserialize)]
struct SwitchQuery {
    org: i64,
}

async fn switch(Query(query): Query<SwitchQuery>) -> Response {
    see_other(&format!("/orgs/{}", query.org))
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    nav: Option<Nav>,
    email: String,
    next: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
    notice: Option<String>,
}

async fn sign_in_page(Query(query): Query<NextQuery>) -> Result<Response, ApiError> {
    let notice = match query.notice.as_deref() {
        Some("signed-out") => Some("You are signed out.".to_owned()),
        Some("account-created") => Some("Your account is ready: sign in with your email and password.".to_owned()),
        Some("expired") => Some("Your session ended. Sign in again to continue.".to_owned()),
        _ => None,
    };
    html(&SignInPage { nav: None, email: String::new(), next: safe_next(query.next.as_deref()), error: None, notice })
}

/// The sign-in form. No `Debug`: it holds a password.
#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

async fn sign_in_post(
    State(state): State<AppState>,
    request_id: Option<axum::Extension<RequestId>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, ApiError> {
    let next = safe_next(form.next.as_deref());
    let email = form.email.trim().to_owned();
    let again = |error: String| SignInPage {
        nav: None,
        email: email.clone(),
        next: next.clone(),
        error: Some(error),
        notice: None,
    };
    if email.is_empty() || form.password.is_empty() {
        return html(&again("Enter your email and your password.".to_owned()));
    }
    let client = auth::client_addr(peer.ip(), &headers, &state.trusted_proxies);
    let request_id = request_id.map(|id| id.0.0);
    match sign_in::with_password(&state, client, &email, form.password, request_id).await {
        Ok(accepted) => {
            let (cookie, _) = accepted.session;
            let location = if accepted.mfa_required {
                format!("/sign-in/code?next={}", encode(&next))
            } else if accepted.mfa_enrolment_required {
                "/account?notice=mfa-required".to_owned()
            } else {
                next.clone()
            };
            Ok(see_other_with_cookie(&location, cookie))
        }
        Err(ApiError::InvalidCredentials) => html(&again(
            "The email or password is wrong, or the account is locked after too many wrong attempts (it \
                 unlocks by itself after 15 minutes)."
                .to_owned(),
        )),
        Err(ApiError::TooManyRequests { retry_after_secs }) => html(&again(format!(
            "Too many failed sign-ins came from your network. Try again in {}.",
            minutes(retry_after_secs)
        ))),
        Err(err) => Err(err),
    }
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct CodePage {
    nav: Option<Nav>,
    csrf: String,
    next: String,
    error: Option<String>,
}

/// The CSRF token of the request's session, for a page of a session that has no principal yet.
fn session_csrf(state: &AppState, headers: &HeaderMap) -> String {
    auth::session_cookie(headers).map(|session| token::bound_token(&state.csrf_key, session)).unwrap_or_default()
}

async fn code_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Result<Response, ApiError> {
    let csrf = session_csrf(&state, &headers);
    html(&CodePage { nav: None, csrf, next: safe_next(query.next.as_deref()), error: None })
}

/// The second-factor form. No `Debug`: it holds a code.
#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
    next: Option<String>,
}

async fn code_post(
    State(state): State<AppState>,
    pending: PendingSecondFactor,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, ApiError> {
    let next = safe_next(form.next.as_deref());
    let again = |error: &str| {
        let csrf = session_csrf(&state, &headers);
        html(&CodePage { nav: None, csrf, next: next.clone(), error: Some(error.to_owned()) })
    };
    if form.code.trim().is_empty() {
        return again("Enter the code from your authenticator app.");
    }
    match sign_in::second_factor(&state, &pending, form.code.trim()).await {
        Ok((cookie, _)) => Ok(see_other_with_cookie(&next, cookie)),
        Err(ApiError::InvalidCode) => again("That code is wrong, expired or already used. Try the next one."),
        Err(ApiError::TooManyRequests { retry_after_secs }) => {
            again(&format!("Too many wrong codes. Wait {retry_after_secs} seconds for a new code, then try again."))
        }
        Err(err) => Err(err),
    }
}

async fn sign_out(
    State(state): State<AppState>,
    session: AnySession,
    request_id: Option<axum::Extension<RequestId>>,
) -> Result<Response, ApiError> {
    sign_in::sign_out(&state, session.session_id, session.user_id, request_id.map(|id| id.0.0)).await?;
    Ok(see_other_with_cookie("/sign-in?notice=signed-out", HeaderValue::from_static(auth::CLEARED_SESSION_COOKIE)))
}

/// Seconds as a rounded-up number of minutes or hours, for a person.
fn minutes(seconds: u64) -> String {
    match seconds {
        0..=60 => "a minute".to_owned(),
        61..=5_400 => format!("{} minutes", seconds.div_ceil(60)),
        _ => format!("{} hours", seconds.div_ceil(3_600)),
    }
}

/// Percent-encodes a path for a query parameter.
fn encode(path: &str) -> String {
    url::form_urlencoded::byte_serialize(path.as_bytes()).collect()
}
