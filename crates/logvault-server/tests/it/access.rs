//! The route registry and the role × endpoint matrix: every route either is on the public allow-list or refuses a
//! caller without credentials, and every organisation route answers each role exactly as the permission matrix says
//! — and a member of another organisation with a 404 that says nothing.

use logvault_core::authz::Role;
use logvault_server::http::routes::{Access, all_routes};
use logvault_store::{NewApiToken, NewInvitation, OrgScope};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{Caller, TestApp, assert_problem, member, sign_in};

/// The routes anyone may call. A route must be on this list or on `AUTHENTICATED`, or the test fails.
const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/api/v1/csp-reports"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/otp/request"),
    ("POST", "/api/v1/auth/otp/verify"),
    ("POST", "/api/v1/invitations/accept"),
    ("POST", "/api/v1/ingest"),
    ("GET", "/api/v1/signing-key"),
    ("GET", "/l"),
    ("GET", "/static/sync.js"),
    ("GET", "/static/sync.css"),
    ("GET", "/api/v1/openapi.json"),
    // The pages anyone may open: the start page (which sends them on), signing in, first run, invitations, and
    // the pages' static files.
    ("GET", "/"),
    ("GET", "/sign-in"),
    ("POST", "/sign-in"),
    ("GET", "/setup"),
    ("POST", "/setup"),
    ("GET", "/invite"),
    ("POST", "/invite"),
    ("GET", "/static/app.css"),
    ("GET", "/static/app.js"),
    ("GET", "/static/chart.js"),
    ("GET", "/static/vendor/uplot-1.6.32/uPlot.iife.min.js"),
    ("GET", "/static/vendor/uplot-1.6.32/uPlot.min.css"),
    ("GET", "/static/vendor/uplot-1.6.32/LICENSE"),
];

/// The routes that need credentials (a session, a pending session, or an API token).
const AUTHENTICATED: &[(&str, &str)] = &[
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/mfa"),
    ("GET", "/api/v1/me"),
    ("POST", "/api/v1/me/password"),
    ("GET", "/api/v1/me/sessions"),
    ("DELETE", "/api/v1/me/sessions"),
    ("DELETE", "/api/v1/me/sessions/{session_id}"),
    ("POST", "/api/v1/me/mfa/totp"),
    ("DELETE", "/api/v1/me/mfa/totp"),
    ("POST", "/api/v1/me/mfa/totp/confirm"),
    ("GET", "/api/v1/orgs/{org_id}"),
    ("PATCH", "/api/v1/orgs/{org_id}"),
    ("GET", "/api/v1/orgs/{org_id}/members"),
    ("PATCH", "/api/v1/orgs/{org_id}/members/{user_id}"),
    ("DELETE", "/api/v1/orgs/{org_id}/members/{user_id}"),
    ("PUT", "/api/v1/orgs/{org_id}/members/{user_id}/site"),
    ("GET", "/api/v1/orgs/{org_id}/sites"),
    ("POST", "/api/v1/orgs/{org_id}/sites"),
    ("GET", "/api/v1/orgs/{org_id}/invitations"),
    ("POST", "/api/v1/orgs/{org_id}/invitations"),
    ("DELETE", "/api/v1/orgs/{org_id}/invitations/{invitation_id}"),
    ("GET", "/api/v1/orgs/{org_id}/tokens"),
    ("POST", "/api/v1/orgs/{org_id}/tokens"),
    ("DELETE", "/api/v1/orgs/{org_id}/tokens/{token_id}"),
    ("GET", "/api/v1/orgs/{org_id}/audit"),
    ("GET", "/api/v1/orgs/{org_id}/retention"),
    ("PUT", "/api/v1/orgs/{org_id}/retention"),
    ("GET", "/api/v1/orgs/{org_id}/devices"),
    ("POST", "/api/v1/orgs/{org_id}/devices"),
    ("GET", "/api/v1/devices/{serial}"),
    ("POST", "/api/v1/orgs/{org_id}/devices/{serial}/keys"),
    ("POST", "/api/v1/orgs/{org_id}/devices/claim"),
    ("POST", "/api/v1/manufacturing/devices"),
    ("POST", "/api/v1/orgs/{org_id}/devices/{serial}/key-export"),
    ("GET", "/api/v1/devices/{serial}/measurements"),
    ("GET", "/api/v1/devices/{serial}/statistics"),
    ("GET", "/api/v1/devices/{serial}/settings"),
    ("PUT", "/api/v1/devices/{serial}/settings"),
    ("GET", "/api/v1/devices/{serial}/export"),
    // Pages.
    ("GET", "/switch"),
    ("GET", "/sign-in/code"),
    ("POST", "/sign-in/code"),
    ("POST", "/sign-out"),
    ("GET", "/account"),
    ("POST", "/account/mfa"),
    ("POST", "/account/mfa/confirm"),
    ("POST", "/account/sessions/{session_id}/revoke"),
    ("POST", "/account/sessions/revoke-others"),
    ("GET", "/orgs/{org_id}"),
    ("GET", "/orgs/{org_id}/devices/new"),
    ("POST", "/orgs/{org_id}/devices/new"),
    ("GET", "/orgs/{org_id}/devices/{serial}"),
    ("GET", "/devices/{serial}"),
    ("GET", "/orgs/{org_id}/audit"),
    ("GET", "/orgs/{org_id}/members"),
    ("POST", "/orgs/{org_id}/members"),
];

fn fill(path: &str, values: &[(&str, i64)]) -> String {
    let mut path = path.to_owned();
    for (name, value) in values {
        path = path.replace(&format!("{{{name}}}"), &value.to_string());
    }
    path
}

#[test]
fn every_registered_route_is_on_exactly_one_list_and_every_listed_route_is_registered() {
    let routes = all_routes();
    let table: Vec<(String, &str)> = routes.table().iter().map(|r| (r.method.to_string(), r.path)).collect();
    for (method, path) in &table {
        let public = PUBLIC.contains(&(method.as_str(), path));
        let authenticated = AUTHENTICATED.contains(&(method.as_str(), path));
        assert!(
            public ^ authenticated,
            "{method} {path} must be on exactly one of the PUBLIC and AUTHENTICATED lists of this test"
        );
    }
    for (method, path) in PUBLIC.iter().chain(AUTHENTICATED) {
        assert!(table.iter().any(|(m, p)| m == method && p == path), "{method} {path} is listed but not served");
    }
    for route in routes.table() {
        let listed_public = PUBLIC.contains(&(route.method.as_str(), route.path));
        assert_eq!(
            route.access == Access::Public,
            listed_public,
            "{} {} declares {:?}",
            route.method,
            route.path,
            route.access
        );
    }
}

both_engines!(every_route_off_the_public_list_refuses_a_caller_without_credentials, async |app: &TestApp| {
    let ids = [("org_id", 1), ("user_id", 1), ("session_id", 1), ("invitation_id", 1), ("token_id", 1), ("serial", 1)];
    for route in all_routes().table() {
        let method = Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        let path = fill(route.path, &ids);
        let response = Caller::anonymous().send(app, method.clone(), &path, Some(json!({}))).await;
        let status = response.status().as_u16();
        if route.access == Access::Public {
            assert!(status != 401 && status < 500, "{method} {path}: {status}");
        } else {
            assert_problem(response, 401, "unauthorized").await;
        }
        // A bearer token that does not exist is no credential either.
        if route.access != Access::Public {
            let response = Caller::bearer("lv_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
                .send(app, method, &path, Some(json!({})))
                .await;
            assert_eq!(response.status(), 401, "{} {path}", route.method);
        }
    }
});

/// Who calls in the matrix: a session of each role, an API token with the viewer role (made by an owner), and a
/// member of another organisation.
enum Who {
    Member(Role),
    ViewerToken,
    Outsider,
}

both_engines!(each_organisation_route_answers_each_role_as_the_matrix_says, async |app: &TestApp| {
    let store = &app.server().store;
    let roles = [Role::Owner, Role::Admin, Role::Operator, Role::Viewer, Role::Auditor];
    let mut callers = Vec::new();
    let mut org_id = 0;
    for role in roles {
        let email = format!("{role}@acme.test");
        let (org, _) = member(app, "Acme", &email, role).await;
        org_id = org;
        callers.push((Who::Member(role), sign_in(app, &email).await, user_of(app, &email).await));
    }
    let owner_id = user_of(app, "owner@acme.test").await;
    let scope = OrgScope::for_operator(org_id);
    let viewer_token = logvault_core::token::SecretToken::generate("lv_").unwrap();
    store
        .create_api_token(
            &scope,
            NewApiToken {
                user_id: owner_id,
                name: "matrix".to_owned(),
                role: Role::Viewer,
                token_hash: viewer_token.digest(),
                now_us: logvault_server::auth::now_us(),
                expires_at_us: i64::MAX,
            },
        )
        .await
        .unwrap();
    callers.push((Who::ViewerToken, Caller::bearer(viewer_token.expose()), owner_id));
    member(app, "Globex", "gus@globex.test", Role::Owner).await;
    callers.push((Who::Outsider, sign_in(app, "gus@globex.test").await, owner_id));

    let not_found_body = |body: Value| {
        let mut body = body;
        body.as_object_mut().unwrap().remove("request_id");
        body
    };
    let nowhere = sign_in(app, "gus@globex.test").await;
    let baseline = nowhere.send(app, Method::GET, "/api/v1/orgs/999999", None).await;
    let baseline = not_found_body(assert_problem(baseline, 404, "not-found").await);

    let mut checked = 0;
    for route in all_routes().table() {
        let Access::Org(permission) = route.access else { continue };
        for (who, caller, caller_id) in &callers {
            // Fresh targets for every call: a viewer to change or remove, an invitation, and a token to revoke (the
            // caller's own: whoever may manage tokens may revoke their own).
            let n = checked;
            let target = store
                .create_user(&logvault_core::Email::parse(&format!("target{n}@acme.test")).unwrap(), "T", None, 1)
                .await
                .unwrap();
            store.add_member(&scope, target.id, Role::Viewer, 1).await.unwrap();
            let invitation = store
                .create_invitation(
                    &scope,
                    NewInvitation {
                        email: logvault_core::Email::parse(&format!("invitee{n}@acme.test")).unwrap(),
                        role: Role::Viewer,
                        token_hash: logvault_core::token::digest(&format!("invitation {n}")),
                        invited_by: Some(owner_id),
                        purpose: logvault_store::InvitationPurpose::Invitation,
                        now_us: 1,
                        expires_at_us: i64::MAX,
                    },
                )
                .await
                .unwrap();
            let token = logvault_core::token::SecretToken::generate("lv_").unwrap();
            let token = store
                .create_api_token(
                    &scope,
                    NewApiToken {
                        user_id: *caller_id,
                        name: "target".to_owned(),
                        role: Role::Viewer,
                        token_hash: token.digest(),
                        now_us: 1,
                        expires_at_us: i64::MAX,
                    },
                )
                .await
                .unwrap();
            let device = store
                .create_device(
                    &scope,
                    logvault_store::NewDevice {
                        serial: format!("M-{n}"),
                        name: "matrix".to_owned(),
                        site_id: None,
                        model: None,
                        key_sealed: vec![0; 44],
                        now_us: 1,
                    },
                )
                .await
                .unwrap();
            let path = fill(
                route.path,
                &[("org_id", org_id), ("user_id", target.id), ("invitation_id", invitation.id), ("token_id", token.id)],
            )
            .replace("{serial}", &device.serial);
            let method = Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
            let denied_before = denied_entries(app, org_id).await;
            let response = caller.send(app, method.clone(), &path, Some(json!({}))).await;
            let status = response.status().as_u16();
            let allowed = match who {
                Who::Member(role) => Some(role.allows(permission)),
                Who::ViewerToken => Some(Role::Viewer.allows(permission)),
                Who::Outsider => None,
            };
            match allowed {
                Some(true) => assert!(
                    ![401, 403, 404].contains(&status) && status < 500,
                    "{method} {path} as an allowed caller: {status}"
                ),
                Some(false) => {
                    assert_problem(response, 403, "forbidden").await;
                    assert_eq!(denied_entries(app, org_id).await, denied_before + 1, "{method} {path}: audited");
                }
                None => {
                    let body = not_found_body(assert_problem(response, 404, "not-found").await);
                    assert_eq!(body, baseline, "{method} {path}: the 404 says nothing about the organisation");
                }
            }
            checked += 1;
        }
    }
    let org_routes = all_routes().table().iter().filter(|r| matches!(r.access, Access::Org(_))).count();
    assert!(org_routes >= 12, "{org_routes}");
    assert_eq!(checked, org_routes * callers.len(), "every organisation route was called by every caller");
});

async fn user_of(app: &TestApp, email: &str) -> i64 {
    app.server().store.user_credentials(&logvault_core::Email::parse(email).unwrap()).await.unwrap().user.id
}

async fn denied_entries(app: &TestApp, org_id: i64) -> usize {
    let entries = app.server().store.audit_entries(org_id, 0, 100_000).await.unwrap();
    entries.iter().filter(|e| e.action == "authz.denied").count()
}
