//! The route registry: every route is declared with its method, path and who may call it, and the access check is
//! applied here — before any handler or body extractor runs — rather than remembered in each handler.
//!
//! [`Routes::add`] is the only way a route enters the router (`clippy.toml` disallows `Router::route` elsewhere), so
//! the table that [`api_routes`] returns is the complete list of what the server answers. The integration tests walk
//! that table: each route without credentials, and each organisation route as every role and as a member of another
//! organisation, compared with the [`Access`] it declares and the role → permission matrix.
//!
//! Each route is also registered with its [`Doc`]: the OpenAPI document (`super::openapi`) is made from this table,
//! so what the server answers and what it documents cannot drift apart.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use logvault_core::authz::Permission;

use crate::auth::{AnySession, Manufacturer, OrgAccess, PendingSecondFactor, Principal};
use crate::error::ApiError;
pub use crate::http::openapi::Doc;
use crate::state::AppState;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, sign-in steps, invitation acceptance, CSP reports (and, later, device ingest).
    Public,
    /// Only a session that has given its password but still owes the second factor.
    PendingSecondFactor,
    /// Any live session, complete or pending (sign-out).
    AnySession,
    /// A manufacturer's upload token (`lvm_…`).
    Manufacturer,
    /// A signed-in user by session cookie; API tokens are refused (sign-out, second factors, session management).
    Session,
    /// A signed-in user, by session or API token.
    Authenticated,
    /// A member of the organisation in the path's `{org_id}` whose role grants the permission. Non-members get 404,
    /// members without the permission 403 and an `authz.denied` audit entry.
    Org(Permission),
}

/// One registered route.
#[derive(Debug, Clone)]
pub struct RouteInfo {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    /// What the OpenAPI document says about it.
    pub doc: Doc,
}

/// Routes under construction: the table and, per path, the method routers with their access guard.
#[derive(Default)]
pub struct Routes {
    table: Vec<RouteInfo>,
    handlers: Vec<(&'static str, Access, MethodRouter<AppState>)>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes").field("table", &self.table).finish_non_exhaustive()
    }
}

impl Routes {
    pub fn new() -> Routes {
        Routes::default()
    }

    /// Registers `handler` for `method` on `path`, reachable only as `access` allows and described by `doc`.
    ///
    /// # Panics
    /// On a method other than GET, POST, PUT, PATCH and DELETE: a programming error caught by every test run.
    pub fn add<H, T>(mut self, method: Method, path: &'static str, access: Access, doc: Doc, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = match method {
            Method::GET => MethodFilter::GET,
            Method::POST => MethodFilter::POST,
            Method::PUT => MethodFilter::PUT,
            Method::PATCH => MethodFilter::PATCH,
            Method::DELETE => MethodFilter::DELETE,
            #[allow(clippy::panic, reason = "routes are constants; every test run builds the router")]
            other => panic!("route method {other} is not supported by the registry"),
        };
        self.table.push(RouteInfo { method, path, access, doc });
        self.handlers.push((path, access, axum::routing::on(filter, handler)));
        self
    }

    pub fn merge(mut self, other: Routes) -> Routes {
        self.table.extend(other.table);
        self.handlers.extend(other.handlers);
        self
    }

    pub fn table(&self) -> &[RouteInfo] {
        &self.table
    }

    /// The router: each method router wrapped in its access guard, methods of one path merged.
    pub fn into_router(self, state: &AppState) -> Router<AppState> {
        let mut by_path: BTreeMap<&'static str, MethodRouter<AppState>> = BTreeMap::new();
        for (path, access, method_router) in self.handlers {
            let guarded =
                method_router.route_layer(axum::middleware::from_fn_with_state((state.clone(), access), guard));
            let merged = match by_path.remove(path) {
                Some(existing) => existing.merge(guarded),
                None => guarded,
            };
            by_path.insert(path, merged);
        }
        let mut router = Router::new();
        for (path, method_router) in by_path {
            #[allow(clippy::disallowed_methods, reason = "the registry is the one place routes enter the router")]
            {
                router = router.route(path, method_router);
            }
        }
        router
    }
}

/// The access check of a route, run after routing and before the handler's extractors. What it establishes (the
/// principal, the organisation access) goes into the request extensions, where the handler's extractors find it.
async fn guard(
    State((state, access)): State<(AppState, Access)>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    match access {
        Access::Public => {}
        Access::PendingSecondFactor => {
            let pending = PendingSecondFactor::from_request_parts(&mut parts, &state).await?;
            parts.extensions.insert(pending);
        }
        Access::Manufacturer => {
            let manufacturer = Manufacturer::from_request_parts(&mut parts, &state).await?;
            parts.extensions.insert(manufacturer);
        }
        Access::AnySession => {
            let session = AnySession::from_request_parts(&mut parts, &state).await?;
            parts.extensions.insert(session);
        }
        Access::Session | Access::Authenticated => {
            let principal = Principal::from_request_parts(&mut parts, &state).await?;
            if access == Access::Session && principal.session_id().is_none() {
                return Err(ApiError::SessionRequired);
            }
            parts.extensions.insert(principal);
        }
        Access::Org(permission) => {
            let principal = Principal::from_request_parts(&mut parts, &state).await?;
            let params = RawPathParams::from_request_parts(&mut parts, &state).await.map_err(|_| ApiError::NotFound)?;
            let org_id = params
                .iter()
                .find(|(name, _)| *name == "org_id")
                .and_then(|(_, value)| value.parse::<i64>().ok())
                .ok_or(ApiError::NotFound)?;
            let access = principal.org_access(&state, org_id, permission).await?;
            parts.extensions.insert(principal);
            parts.extensions.insert(access);
        }
    }
    Ok(next.run(Request::from_parts(parts, body)).await.into_response())
}

/// Every route the API serves, with its access. `/metrics` is added by the router only when a token is configured
/// (it checks that token itself, so it is listed as public here).
pub fn api_routes() -> Routes {
    Routes::new()
        .merge(super::health::routes())
        .merge(super::csp::routes())
        .merge(super::session::routes())
        .merge(super::mfa::routes())
        .merge(super::orgs::routes())
        .merge(super::members::routes())
        .merge(super::tokens::routes())
        .merge(super::otp::routes())
        .merge(super::devices::routes())
        .merge(super::ingest::routes())
        .merge(super::sync_page::routes())
        .merge(super::manufacturing::routes())
        .merge(super::reports::routes())
        .merge(super::exports::routes())
        .merge(super::openapi::routes())
}

/// Every page of the web application and its static files: in the router and the access tests, not in the OpenAPI
/// document.
pub fn page_routes() -> Routes {
    super::pages::routes()
}

/// Every route the server answers (but `/metrics`): the API and the pages.
pub fn all_routes() -> Routes {
    api_routes().merge(page_routes())
}

/// Extracts the organisation access the guard established. A handler that takes it on a route not declared
/// [`Access::Org`] fails with 500 on its first call — which the route tests make.
impl FromRequestParts<AppState> for OrgAccess {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &AppState,
    ) -> Result<OrgAccess, ApiError> {
        parts.extensions.get::<OrgAccess>().cloned().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("organisation access extracted on a route not declared Access::Org"))
        })
    }
}
