//! Managing an organisation through the API: role changes and removals (with the last-owner rule) that take
//! effect on the next request, invitations by email, API tokens, and a user's own sessions.

use logvault_core::authz::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_engines;
use crate::helpers::{CANARY_PASSWORD, Caller, PASSWORD, TestApp, assert_problem, login, member, sign_in};

async fn patch(caller: &Caller, app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    caller.send(app, Method::PATCH, path, Some(body)).await
}

async fn delete(caller: &Caller, app: &TestApp, path: &str) -> reqwest::Response {
    caller.send(app, Method::DELETE, path, None).await
}

both_engines!(roles_change_and_members_leave_on_the_very_next_request, async |app: &TestApp| {
    let (org, _) = member(app, "Acme", "owner@acme.test", Role::Owner).await;
    let (_, admin_id) = member(app, "Acme", "admin@acme.test", Role::Admin).await;
    let (_, bo) = member(app, "Acme", "bo@acme.test", Role::Operator).await;
    let owner = sign_in(app, "owner@acme.test").await;
    let admin = sign_in(app, "admin@acme.test").await;
    let bo_session = sign_in(app, "bo@acme.test").await;
    let members = format!("/api/v1/orgs/{org}/members");
    let audit = format!("/api/v1/orgs/{org}/audit");

    // An operator cannot read the audit log; promoted to auditor, the very next request can.
    assert_problem(bo_session.get(app, &audit).await, 403, "forbidden").await;
    let changed = patch(&admin, app, &format!("{members}/{bo}"), json!({"role": "auditor"})).await;
    assert_eq!(changed.status(), 200);
    assert_eq!(changed.json::<Value>().await.unwrap()["role"], "auditor");
    assert_eq!(bo_session.get(app, &audit).await.status(), 200);

    // An admin can neither make an owner nor touch one.
    let owner_email = logvault_core::Email::parse("owner@acme.test").unwrap();
    let owner_id = app.server().store.user_credentials(&owner_email).await.unwrap().user.id;
    assert_problem(patch(&admin, app, &format!("{members}/{bo}"), json!({"role": "owner"})).await, 403, "forbidden")
        .await;
    let demote_owner = patch(&admin, app, &format!("{members}/{owner_id}"), json!({"role": "viewer"})).await;
    assert_problem(demote_owner, 403, "forbidden").await;
    assert_problem(delete(&admin, app, &format!("{members}/{owner_id}")).await, 403, "forbidden").await;

    // The last owner can neither step down nor leave.
    let step_down = patch(&owner, app, &format!("{members}/{owner_id}"), json!({"role": "admin"})).await;
    assert_problem(step_down, 409, "last-owner").await;
    assert_problem(delete(&owner, app, &format!("{members}/{owner_id}")).await, 409, "last-owner").await;

    // A removed member's next request is a 404: the organisation is no longer theirs.
    assert_eq!(delete(&admin, app, &format!("{members}/{bo}")).await.status(), 204);
    assert_problem(bo_session.get(app, &audit).await, 404, "not-found").await;
    assert_problem(bo_session.get(app, &members).await, 404, "not-found").await;

    // Everything is in the organisation's audit chain, with the actor.
    let entries: Value = owner.get(app, &format!("{audit}?limit=500")).await.json().await.unwrap();
    let actions: Vec<(String, String)> = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap().to_owned(), e["actor"].as_str().unwrap().to_owned()))
        .collect();
    let by_admin = format!("user:{admin_id}");
    assert!(actions.contains(&("member.role_change".to_owned(), by_admin.clone())), "{actions:?}");
    assert!(actions.contains(&("member.remove".to_owned(), by_admin.clone())), "{actions:?}");
    assert!(actions.iter().filter(|(a, _)| a == "authz.denied").count() >= 4, "{actions:?}");
    let denied: Value =
        owner.get(app, &format!("{audit}?action=authz.denied&outcome=denied")).await.json().await.unwrap();
    assert!(denied["entries"].as_array().unwrap().iter().all(|e| e["action"] == "authz.denied"));
});

both_engines!(an_invitation_arrives_by_email_and_is_accepted_once, async |app: &TestApp| {
    let (org, _) = member(app, "Acme", "owner@acme.test", Role::Owner).await;
    let owner = sign_in(app, "owner@acme.test").await;
    let invitations = format!("/api/v1/orgs/{org}/invitations");

    let response = owner.post(app, &invitations, json!({"email": "Cy@Example.test", "role": "operator"})).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["emailed"], true);
    assert!(created.get("link").is_none(), "the link goes to the invitee only");
    assert_eq!(owner.get(app, &invitations).await.json::<Value>().await.unwrap().as_array().unwrap().len(), 1);

    let mail = app.mail.next_message(std::time::Duration::from_secs(10)).await.expect("an invitation email");
    assert_eq!(mail.rcpt_to, ["cy@example.test"]);
    let body = mail.text_body();
    let link = body.split_whitespace().find(|w| w.contains("/invite#")).expect("a link in the email").to_owned();
    assert!(link.starts_with("https://"), "{link}");
    let token = link.split_once('#').unwrap().1.to_owned();
    assert!(!body.contains(PASSWORD));

    // A weak password is refused with the reason, and the invitation stays usable.
    let weak = Caller::anonymous()
        .post(app, "/api/v1/invitations/accept", json!({"token": token, "name": "Cy", "password": "acme1234"}))
        .await;
    assert_problem(weak, 422, "validation-failed").await;
    let accepted = Caller::anonymous()
        .post(app, "/api/v1/invitations/accept", json!({"token": token, "name": "Cy", "password": CANARY_PASSWORD}))
        .await;
    assert_eq!(accepted.status(), 200);
    let accepted: Value = accepted.json().await.unwrap();
    assert_eq!((accepted["org_id"].as_i64(), accepted["role"].as_str()), (Some(org), Some("operator")));
    assert_eq!(accepted["created_account"], true);

    let again = Caller::anonymous()
        .post(app, "/api/v1/invitations/accept", json!({"token": token, "name": "Mallory", "password": PASSWORD}))
        .await;
    assert_problem(again, 422, "validation-failed").await;

    let login = login(app, "cy@example.test", CANARY_PASSWORD).await;
    let cy = Caller::from_sign_in(login).await;
    let me: Value = cy.get(app, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["memberships"][0]["role"], "operator");

    // A revoked invitation cannot be used.
    let created: Value = owner
        .post(app, &invitations, json!({"email": "dee@example.test", "role": "viewer"}))
        .await
        .json()
        .await
        .unwrap();
    let mail = app.mail.next_message(std::time::Duration::from_secs(10)).await.unwrap();
    let token = mail.text_body().split_once("/invite#").unwrap().1.split_whitespace().next().unwrap().to_owned();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(delete(&owner, app, &format!("{invitations}/{id}")).await.status(), 204);
    let revoked =
        Caller::anonymous().post(app, "/api/v1/invitations/accept", json!({"token": token, "name": "Dee"})).await;
    assert_problem(revoked, 422, "validation-failed").await;
});

both_engines!(api_tokens_act_within_their_organisation_and_role_until_revoked, async |app: &TestApp| {
    let (org, _) = member(app, "Acme", "admin@acme.test", Role::Admin).await;
    let (globex, _) = member(app, "Globex", "gus@globex.test", Role::Owner).await;
    let admin = sign_in(app, "admin@acme.test").await;
    let tokens = format!("/api/v1/orgs/{org}/tokens");

    // An admin cannot mint an owner token; an auditor token is fine.
    let too_high = admin.post(app, &tokens, json!({"name": "backup", "role": "owner"})).await;
    assert_problem(too_high, 422, "validation-failed").await;
    let response =
        admin.post(app, &tokens, json!({"name": "audit export", "role": "auditor", "expires_days": 30})).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("lv_") && secret.len() >= 40, "{secret}");
    let token = Caller::bearer(&secret);

    // It reads what an auditor reads, and nothing an auditor may not do.
    assert_eq!(token.get(app, &format!("/api/v1/orgs/{org}/audit")).await.status(), 200);
    assert_problem(token.get(app, &format!("/api/v1/orgs/{org}/invitations")).await, 403, "forbidden").await;
    // Other organisations do not exist for it, and it cannot mint tokens or manage sessions.
    assert_problem(token.get(app, &format!("/api/v1/orgs/{globex}")).await, 404, "not-found").await;
    assert_problem(token.post(app, &tokens, json!({"name": "child"})).await, 403, "forbidden").await;
    assert_problem(token.get(app, "/api/v1/me/sessions").await, 403, "session-required").await;
    let me: Value = token.get(app, "/api/v1/me").await.json().await.unwrap();
    assert!(me.get("csrf_token").is_none());

    // The listing never shows the secret; revoking it ends it at once.
    let listed = admin.get(app, &tokens).await.text().await.unwrap();
    assert!(!listed.contains(&secret));
    let id = created["id"].as_i64().unwrap();
    assert_eq!(delete(&admin, app, &format!("{tokens}/{id}")).await.status(), 204);
    assert_problem(token.get(app, &format!("/api/v1/orgs/{org}/audit")).await, 401, "unauthorized").await;

    let actions: Vec<String> =
        app.server().store.audit_entries(org, 0, 1000).await.unwrap().into_iter().map(|e| e.action).collect();
    assert!(actions.contains(&"token.create".to_owned()) && actions.contains(&"token.revoke".to_owned()));
});

both_engines!(a_removed_member_s_token_stops_working_and_an_expired_one_never_works, async |app: &TestApp| {
    let (org, _) = member(app, "Acme", "owner@acme.test", Role::Owner).await;
    let (_, bo) = member(app, "Acme", "bo@acme.test", Role::Operator).await;
    let owner = sign_in(app, "owner@acme.test").await;
    let bo_session = sign_in(app, "bo@acme.test").await;
    let created: Value = bo_session
        .post(app, &format!("/api/v1/orgs/{org}/tokens"), json!({"name": "gateway"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["role"], "operator", "defaults to the creator's role");
    let token = Caller::bearer(created["secret"].as_str().unwrap());
    assert_eq!(token.get(app, &format!("/api/v1/orgs/{org}")).await.status(), 200);
    assert_eq!(delete(&owner, app, &format!("/api/v1/orgs/{org}/members/{bo}")).await.status(), 204);
    assert_problem(token.get(app, &format!("/api/v1/orgs/{org}")).await, 401, "unauthorized").await;

    let expired = logvault_core::token::SecretToken::generate("lv_").unwrap();
    let store = &app.server().store;
    let owner_id = store.user_credentials(&logvault_core::Email::parse("owner@acme.test").unwrap()).await.unwrap();
    store
        .create_api_token(
            &logvault_store::OrgScope::for_operator(org),
            logvault_store::NewApiToken {
                user_id: owner_id.user.id,
                name: "old".to_owned(),
                role: Role::Viewer,
                token_hash: expired.digest(),
                now_us: 1,
                expires_at_us: logvault_server::auth::now_us() - 1,
            },
        )
        .await
        .unwrap();
    assert_problem(
        Caller::bearer(expired.expose()).get(app, &format!("/api/v1/orgs/{org}")).await,
        401,
        "unauthorized",
    )
    .await;
});

both_engines!(users_list_and_revoke_their_own_sessions, async |app: &TestApp| {
    member(app, "Acme", "ana@acme.test", Role::Viewer).await;
    member(app, "Acme", "bo@acme.test", Role::Viewer).await;
    let laptop = sign_in(app, "ana@acme.test").await;
    let phone = sign_in(app, "ana@acme.test").await;
    let tablet = sign_in(app, "ana@acme.test").await;
    let bo = sign_in(app, "bo@acme.test").await;

    let sessions: Value = laptop.get(app, "/api/v1/me/sessions").await.json().await.unwrap();
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let phone_id = phone
        .get(app, "/api/v1/me/sessions")
        .await
        .json::<Value>()
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_i64()
        .unwrap();

    // Someone else's session is not found; one's own is revoked and stops working at once.
    assert_problem(delete(&bo, app, &format!("/api/v1/me/sessions/{phone_id}")).await, 404, "not-found").await;
    assert_eq!(delete(&laptop, app, &format!("/api/v1/me/sessions/{phone_id}")).await.status(), 204);
    assert_problem(phone.get(app, "/api/v1/me").await, 401, "unauthorized").await;

    // "Sign out everywhere else" keeps only the current session.
    assert_eq!(delete(&laptop, app, "/api/v1/me/sessions").await.status(), 204);
    assert_problem(tablet.get(app, "/api/v1/me").await, 401, "unauthorized").await;
    assert_eq!(laptop.get(app, "/api/v1/me").await.status(), 200);
    assert_eq!(bo.get(app, "/api/v1/me").await.status(), 200);
    let sessions: Value = laptop.get(app, "/api/v1/me/sessions").await.json().await.unwrap();
    assert_eq!(sessions.as_array().unwrap().len(), 1);

    // State-changing session requests need the CSRF token.
    let forged = Caller { csrf: None, ..laptop.clone() };
    assert_problem(delete(&forged, app, "/api/v1/me/sessions").await, 403, "csrf").await;
    let wrong = Caller { csrf: Some("not-the-token".to_owned()), ..laptop.clone() };
    assert_problem(delete(&wrong, app, "/api/v1/me/sessions").await, 403, "csrf").await;
    let entries = app.server().store.audit_entries(logvault_core::audit::INSTANCE_CHAIN, 0, 1000).await.unwrap();
    let csrf: Vec<_> = entries.iter().filter(|e| e.action == "authz.denied").filter_map(|e| e.detail.clone()).collect();
    assert_eq!(csrf, ["csrf:missing", "csrf:wrong"], "each CSRF refusal is a security event");
});

both_engines!(a_password_change_needs_the_current_one_and_signs_out_other_sessions, async |app: &TestApp| {
    let (_, ana_id) = member(app, "Acme", "ana@acme.test", Role::Viewer).await;
    let laptop = sign_in(app, "ana@acme.test").await;
    let phone = sign_in(app, "ana@acme.test").await;
    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    let wrong = laptop.post(app, "/api/v1/me/password", change("not the password at all", CANARY_PASSWORD)).await;
    assert_problem(wrong, 401, "invalid-credentials").await;
    let weak = laptop.post(app, "/api/v1/me/password", change(PASSWORD, "acme.test ana 2024")).await;
    let body = assert_problem(weak, 422, "validation-failed").await;
    assert!(!body.to_string().contains("acme.test ana 2024"), "the refused password is not echoed: {body}");
    let forged = Caller { csrf: None, ..laptop.clone() };
    assert_problem(forged.post(app, "/api/v1/me/password", change(PASSWORD, CANARY_PASSWORD)).await, 403, "csrf").await;

    assert_eq!(laptop.post(app, "/api/v1/me/password", change(PASSWORD, CANARY_PASSWORD)).await.status(), 204);
    assert_problem(phone.get(app, "/api/v1/me").await, 401, "unauthorized").await;
    assert_eq!(laptop.get(app, "/api/v1/me").await.status(), 200);
    let old = login(app, "ana@acme.test", PASSWORD).await;
    assert_eq!(old.status(), 401);
    let new = login(app, "ana@acme.test", CANARY_PASSWORD).await;
    assert_eq!(new.status(), 200);
    let entries = app.server().store.audit_entries(logvault_core::audit::INSTANCE_CHAIN, 0, 1000).await.unwrap();
    let target = format!("user:{ana_id}");
    assert!(entries.iter().any(|e| e.action == "auth.password_change" && e.target.as_deref() == Some(&target)));
    assert!(entries.iter().all(|e| !format!("{e:?}").contains(CANARY_PASSWORD)));
});

both_engines!(a_token_acts_with_its_own_role_not_its_creator_s, async |app: &TestApp| {
    let (org, _) = member(app, "Acme", "owner@acme.test", Role::Owner).await;
    let (_, bo) = member(app, "Acme", "bo@acme.test", Role::Viewer).await;
    let owner = sign_in(app, "owner@acme.test").await;
    let created: Value = owner
        .post(app, &format!("/api/v1/orgs/{org}/tokens"), json!({"name": "admin script", "role": "admin"}))
        .await
        .json()
        .await
        .unwrap();
    let token = Caller::bearer(created["secret"].as_str().unwrap());
    // As an admin, it may make an operator but not an owner, though its creator could.
    let path = format!("/api/v1/orgs/{org}/members/{bo}");
    assert_problem(patch(&token, app, &path, json!({"role": "owner"})).await, 403, "forbidden").await;
    let invitations = format!("/api/v1/orgs/{org}/invitations");
    let invite_owner = token.post(app, &invitations, json!({"email": "x@y.test", "role": "owner"})).await;
    assert_problem(invite_owner, 403, "forbidden").await;
    assert_eq!(patch(&token, app, &path, json!({"role": "operator"})).await.status(), 200);
    // Its /me shows its own organisation only.
    let globex =
        app.server().store.create_organisation(&logvault_core::OrgName::parse("Globex").unwrap()).await.unwrap();
    let owner_id = app
        .server()
        .store
        .user_credentials(&logvault_core::Email::parse("owner@acme.test").unwrap())
        .await
        .unwrap()
        .user
        .id;
    app.server()
        .store
        .add_member(&logvault_store::OrgScope::for_operator(globex.id), owner_id, Role::Viewer, 1)
        .await
        .unwrap();
    let me: Value = token.get(app, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["memberships"].as_array().unwrap().len(), 1);
});

both_engines!(an_existing_account_accepts_an_invitation_only_when_signed_in_as_itself, async |app: &TestApp| {
    let (org, _) = member(app, "Acme", "owner@acme.test", Role::Owner).await;
    member(app, "Globex", "bo@globex.test", Role::Viewer).await;
    member(app, "Globex", "eve@globex.test", Role::Viewer).await;
    let owner = sign_in(app, "owner@acme.test").await;
    owner
        .post(app, &format!("/api/v1/orgs/{org}/invitations"), json!({"email": "bo@globex.test", "role": "viewer"}))
        .await;
    let mail = app.mail.next_message(std::time::Duration::from_secs(10)).await.unwrap();
    let token = mail.text_body().split_once("/invite#").unwrap().1.split_whitespace().next().unwrap().to_owned();
    let body = json!({"token": token, "password": CANARY_PASSWORD});

    // Holding the link is not enough: not anonymously, not as someone else, and no password is set either way.
    let anonymous = Caller::anonymous().post(app, "/api/v1/invitations/accept", body.clone()).await;
    assert_problem(anonymous, 422, "validation-failed").await;
    let eve = sign_in(app, "eve@globex.test").await;
    assert_problem(eve.post(app, "/api/v1/invitations/accept", body.clone()).await, 422, "validation-failed").await;
    let bo = sign_in(app, "bo@globex.test").await;
    let accepted = bo.post(app, "/api/v1/invitations/accept", body).await;
    assert_eq!(accepted.status(), 200);
    assert_eq!(accepted.json::<Value>().await.unwrap()["created_account"], false);
    assert_eq!(bo.get(app, &format!("/api/v1/orgs/{org}")).await.status(), 200);
    let login = login(app, "bo@globex.test", CANARY_PASSWORD).await;
    assert_eq!(login.status(), 401, "the password was not replaced");
});

both_engines!(
    an_invitation_dies_with_its_inviter_s_right_and_admins_cannot_revoke_owner_invitations,
    async |app: &TestApp| {
        let (org, _) = member(app, "Acme", "owner@acme.test", Role::Owner).await;
        let (_, admin_id) = member(app, "Acme", "admin@acme.test", Role::Admin).await;
        let owner = sign_in(app, "owner@acme.test").await;
        let admin = sign_in(app, "admin@acme.test").await;
        let invitations = format!("/api/v1/orgs/{org}/invitations");
        let to_owner: Value = owner
            .post(app, &invitations, json!({"email": "o2@acme.test", "role": "owner"}))
            .await
            .json()
            .await
            .unwrap();
        app.mail.next_message(std::time::Duration::from_secs(10)).await.unwrap();
        let id = to_owner["id"].as_i64().unwrap();
        assert_problem(delete(&admin, app, &format!("{invitations}/{id}")).await, 403, "forbidden").await;

        admin.post(app, &invitations, json!({"email": "cy@acme.test", "role": "operator"})).await;
        let mail = app.mail.next_message(std::time::Duration::from_secs(10)).await.unwrap();
        let token = mail.text_body().split_once("/invite#").unwrap().1.split_whitespace().next().unwrap().to_owned();
        assert_eq!(delete(&owner, app, &format!("/api/v1/orgs/{org}/members/{admin_id}")).await.status(), 204);
        let accept = json!({"token": token, "name": "Cy", "password": CANARY_PASSWORD});
        assert_problem(
            Caller::anonymous().post(app, "/api/v1/invitations/accept", accept).await,
            422,
            "validation-failed",
        )
        .await;
    }
);

both_engines!(a_session_still_owing_its_second_factor_can_sign_out, async |app: &TestApp| {
    let (_, recovery_codes) = crate::mfa::enrolled_member(app, "ana@acme.test").await;
    let response = login(app, "ana@acme.test", PASSWORD).await;
    let pending = Caller::from_sign_in_pending(response).await;
    assert_eq!(pending.post(app, "/api/v1/auth/logout", json!({})).await.status(), 204);
    let after = pending.post(app, "/api/v1/auth/mfa", json!({"code": recovery_codes[0]})).await;
    assert_problem(after, 401, "unauthorized").await;
});

both_engines!(a_member_can_be_scoped_to_one_site, async |app: &TestApp| {
    let (org, _) = member(app, "Acme", "owner@acme.test", Role::Owner).await;
    let (_, bo) = member(app, "Acme", "bo@acme.test", Role::Operator).await;
    let (_, admin) = member(app, "Acme", "admin@acme.test", Role::Admin).await;
    let owner = sign_in(app, "owner@acme.test").await;
    let sites = format!("/api/v1/orgs/{org}/sites");
    let cold: Value = owner.post(app, &sites, json!({"name": "Cold store"})).await.json().await.unwrap();
    owner.post(app, &sites, json!({"name": "Plant room"})).await;
    assert_problem(owner.post(app, &sites, json!({"name": "Cold store"})).await, 409, "conflict").await;
    assert_problem(owner.post(app, &sites, json!({"name": "  "})).await, 422, "validation-failed").await;

    let scope = async |user: i64, site: Value| {
        let path = format!("/api/v1/orgs/{org}/members/{user}/site");
        owner.send(app, Method::PUT, &path, Some(json!({"site_id": site}))).await
    };
    let scoped = scope(bo, cold["id"].clone()).await;
    assert_eq!(scoped.status(), 200);
    assert_eq!(scoped.json::<Value>().await.unwrap()["site_id"], cold["id"]);
    assert_problem(scope(admin, cold["id"].clone()).await, 422, "validation-failed").await;
    assert_problem(scope(bo, json!(999_999)).await, 422, "validation-failed").await;

    // The scoped member sees their site only; /me says which.
    let bo_session = sign_in(app, "bo@acme.test").await;
    let seen: Value = bo_session.get(app, &sites).await.json().await.unwrap();
    assert_eq!(seen.as_array().unwrap().len(), 1);
    assert_eq!(seen[0]["name"], "Cold store");
    let me: Value = bo_session.get(app, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["memberships"][0]["site_id"], cold["id"]);
    assert_eq!(owner.get(app, &sites).await.json::<Value>().await.unwrap().as_array().unwrap().len(), 2);

    // Back to the whole organisation.
    assert_eq!(scope(bo, Value::Null).await.status(), 200);
    let seen: Value = bo_session.get(app, &sites).await.json().await.unwrap();
    assert_eq!(seen.as_array().unwrap().len(), 2);
});
