//! The web application: server-rendered HTML pages over the same application services as the API.
//!
//! Pages are registered in the route registry like API routes (so the access tests cover them) but are not part of
//! the OpenAPI document. Templates are askama (`templates/`, checked at compile time, HTML-escaped by default);
//! scripts and styles are static files (`static/`), so the strict CSP holds. Every page works without JavaScript
//! except the chart and the reading of a link's fragment.
//!
//! Forms post `application/x-www-form-urlencoded` with the session's CSRF token in a hidden `csrf` field, which
//! [`forms::form_csrf`] moves into the `X-CSRF-Token` header before the access guard checks it; after a successful
//! post the page redirects (post-redirect-get); on bad input the form comes back with a message next to the field
//! and what was typed (secrets excepted).

mod account;
mod audit;
mod devices;
pub mod forms;
mod members;
mod setup;
mod sign_in;
mod statics;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use logvault_core::authz::{Permission, Role};
use logvault_store::Membership;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::routes::Routes;
use crate::state::AppState;

/// Every page and the static files they use.
pub fn routes() -> Routes {
    Routes::new()
        .merge(statics::routes())
        .merge(sign_in::routes())
        .merge(setup::routes())
        .merge(account::routes())
        .merge(devices::routes())
        .merge(audit::routes())
        .merge(members::routes())
}

/// What every signed-in page shows around its content: who is signed in, the organisations they can switch
/// between, and the links their role in the current one allows.
#[derive(Debug, Clone)]
pub struct Nav {
    pub user_name: String,
    pub csrf: String,
    pub orgs: Vec<(i64, String)>,
    pub org: Option<OrgNav>,
    /// Which link is the current page: `devices`, `audit`, `members`, `account`.
    pub current: &'static str,
}

/// The current organisation in the navigation.
#[derive(Debug, Clone)]
pub struct OrgNav {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub can_audit: bool,
    pub can_members: bool,
    pub can_devices: bool,
    pub can_export: bool,
}

impl Nav {
    /// The navigation for `principal`, in organisation `org_id` if given (its role's links).
    pub async fn load(
        state: &AppState,
        principal: &Principal,
        org_id: Option<i64>,
        current: &'static str,
    ) -> Result<Nav, ApiError> {
        let memberships = state.store.memberships(principal.user.id).await?;
        let org = org_id.and_then(|id| memberships.iter().find(|m| m.organisation.id == id)).map(org_nav);
        Ok(Nav {
            user_name: principal.user.name.clone(),
            csrf: principal.csrf_token(state).unwrap_or_default(),
            orgs: memberships.iter().map(|m| (m.organisation.id, m.organisation.name.to_string())).collect(),
            org,
            current,
        })
    }

    /// `aria-current` for the link named `name`.
    pub fn is(&self, name: &str) -> bool {
        self.current == name
    }
}

fn org_nav(membership: &Membership) -> OrgNav {
    let role = membership.role;
    OrgNav {
        id: membership.organisation.id,
        name: membership.organisation.name.to_string(),
        role,
        can_audit: role.allows(Permission::ReadAuditLog),
        can_members: role.allows(Permission::ManageMembers),
        can_devices: role.allows(Permission::ManageDevices),
        can_export: role.allows(Permission::ExportMeasurements),
    }
}

/// Renders a page. A form that comes back with messages is a page like any other (200): the browser shows it, and
/// its console stays free of failed-request errors.
pub fn html(page: &impl Template) -> Result<Response, ApiError> {
    let body = page.render().map_err(|err| ApiError::Internal(err.into()))?;
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    Ok(response)
}

/// `303 See Other` to `location` (a path of this server).
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let value = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/"));
    response.headers_mut().insert(header::LOCATION, value);
    response
}

/// A redirect that also sets a cookie (a new session).
pub fn see_other_with_cookie(location: &str, cookie: HeaderValue) -> Response {
    let mut response = see_other(location);
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

/// A local path to return to after signing in: only a path of this server (`/…`, not `//…`), else the start page.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && path.len() <= 2000
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// A Unix time in microseconds as `YYYY-MM-DD HH:MM:SS UTC`, and the RFC 3339 instant for a `<time>` element.
pub fn when_us(us: i64) -> (String, String) {
    when_s(us.div_euclid(1_000_000))
}

/// A Unix time in seconds as `YYYY-MM-DD HH:MM:SS UTC`, and the RFC 3339 instant.
pub fn when_s(seconds: i64) -> (String, String) {
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(seconds) else {
        return ("—".to_owned(), String::new());
    };
    let shown = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    let instant = at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    (shown, instant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/orgs/1")), "/orgs/1");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/a\nb")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn times_are_shown_in_utc_with_the_instant_beside() {
        assert_eq!(when_s(0), ("1970-01-01 00:00:00 UTC".to_owned(), "1970-01-01T00:00:00Z".to_owned()));
        assert_eq!(when_us(1_700_000_000_123_456).0, "2023-11-14 22:13:20 UTC");
    }
}
