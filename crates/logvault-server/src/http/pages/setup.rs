//! Joining from a link: `/setup` (the first-run page an empty instance's `serve` prints a link to) and `/invite`
//! (accepting an invitation). The secret is in the link's fragment, which a small script copies into the form; it
//! never reaches the server in a URL.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use serde::Deserialize;

use super::{Nav, html, see_other, see_other_with_cookie};
use crate::app::invitations::{self, FieldError, FirstOwner, SetUpError};
use crate::auth::{self, Principal};
use crate::error::ApiError;
use crate::http::middleware::RequestId;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .add(Method::GET, "/setup", Access::Public, Doc::new("The first-run page"), setup_page)
        .add(Method::POST, "/setup", Access::Public, Doc::new("Set up the first organisation"), setup_post)
        .add(Method::GET, "/invite", Access::Public, Doc::new("The invitation page"), invite_page)
        .add(Method::POST, "/invite", Access::Public, Doc::new("Accept an invitation"), invite_post)
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    nav: Option<Nav>,
    token: String,
    link_missing: bool,
    organisation: String,
    name: String,
    email: String,
    error: Option<String>,
    field_error: Option<FieldError>,
}

impl SetupPage {
    fn has(&self, field: &str) -> bool {
        self.message(field).is_some()
    }

    fn message(&self, field: &str) -> Option<&str> {
        self.field_error.as_ref().filter(|error| error.field == field).map(|error| error.message.as_str())
    }
}

async fn setup_page(State(state): State<AppState>) -> Result<Response, ApiError> {
    if state.store.count_users().await? > 0 {
        return Ok(see_other("/sign-in"));
    }
    html(&SetupPage {
        nav: None,
        token: String::new(),
        link_missing: false,
        organisation: String::new(),
        name: String::new(),
        email: String::new(),
        error: None,
        field_error: None,
    })
}

/// The first-run form. No `Debug`: it holds the link's secret and a password.
#[derive(Deserialize)]
struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn setup_post(
    State(state): State<AppState>,
    request_id: Option<axum::Extension<RequestId>>,
    Form(form): Form<SetupForm>,
) -> Result<Response, ApiError> {
    let owner = FirstOwner {
        token: form.token.trim(),
        organisation: &form.organisation,
        name: &form.name,
        email: form.email.trim(),
        password: form.password,
    };
    let request_id = request_id.map(|id| id.0.0);
    let again = |error: Option<String>, field_error: Option<FieldError>| SetupPage {
        nav: None,
        token: form.token.clone(),
        link_missing: form.token.trim().is_empty(),
        organisation: form.organisation.clone(),
        name: form.name.clone(),
        email: form.email.clone(),
        error,
        field_error,
    };
    match invitations::set_up_first_organisation(&state, &state.first_run, owner, request_id).await {
        Ok(user_id) => {
            let (cookie, _) = auth::issue_session(&state, user_id, false).await?;
            Ok(see_other_with_cookie("/account?notice=welcome", cookie))
        }
        Err(SetUpError::Field(field_error)) => html(&again(None, Some(field_error))),
        Err(SetUpError::Link) => html(&again(
            Some(
                "This set-up link is wrong, used or expired, or Logvault is already set up. Restart \
                     `logvault serve` on an empty instance for a new link, or sign in."
                    .to_owned(),
            ),
            None,
        )),
        Err(SetUpError::Other(err)) => Err(err),
    }
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage {
    nav: Option<Nav>,
    csrf: Option<String>,
    signed_in_as: Option<String>,
    token: String,
    name: String,
    error: Option<String>,
}

async fn invite_page(State(state): State<AppState>, principal: Option<Principal>) -> Result<Response, ApiError> {
    let nav = match &principal {
        Some(principal) => Some(Nav::load(&state, principal, None, "").await?),
        None => None,
    };
    html(&InvitePage {
        nav,
        csrf: principal.as_ref().and_then(|p| p.csrf_token(&state)),
        signed_in_as: principal.map(|p| p.user.email.to_string()),
        token: String::new(),
        name: String::new(),
        error: None,
    })
}

/// The invitation form. No `Debug`: it holds the link's secret and a password.
#[derive(Deserialize)]
struct InviteForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    name: String,
    password: Option<String>,
}

async fn invite_post(
    State(state): State<AppState>,
    request_id: Option<axum::Extension<RequestId>>,
    principal: Option<Principal>,
    Form(form): Form<InviteForm>,
) -> Result<Response, ApiError> {
    let password = form.password.filter(|p| !p.is_empty());
    let name = (!form.name.trim().is_empty()).then_some(form.name.as_str());
    let request_id = request_id.map(|id| id.0.0);
    match invitations::accept(&state, principal.as_ref(), request_id, form.token.trim(), name, password).await {
        Ok(accepted) if principal.is_some() => Ok(see_other(&format!("/orgs/{}", accepted.org_id))),
        Ok(_) => Ok(see_other("/sign-in?notice=account-created")),
        Err(ApiError::Unprocessable(message)) => {
            let nav = match &principal {
                Some(principal) => Some(Nav::load(&state, principal, None, "").await?),
                None => None,
            };
            let page = InvitePage {
                nav,
                csrf: principal.as_ref().and_then(|p| p.csrf_token(&state)),
                signed_in_as: principal.map(|p| p.user.email.to_string()),
                token: form.token,
                name: form.name,
                error: Some(sentence(&message)),
            };
            html(&page)
        }
        Err(err) => Err(err),
    }
}

/// A service's message as a sentence: capital first letter, full stop.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut out: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}
