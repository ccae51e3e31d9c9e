//! Access management on both engines: role changes and removal with the last-owner rule, invitations, API tokens,
//! a user's sessions, disabling, organisation policy and email sign-in codes.

use logvault_core::authz::Role;
use logvault_core::{Email, OrgName};
use logvault_store::testing::TestDatabase;
use logvault_store::{
    Acceptance, InvitationPurpose, NewApiToken, NewInvitation, NewSession, OrgScope, StoreError, conformance,
};

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

fn new_account<'a>(name: &'a str, password_hash: Option<&'a str>) -> Acceptance<'a> {
    Acceptance::NewAccount { name, password_hash }
}

async fn org_with_owner(db: &TestDatabase, name: &str, owner: &str) -> (OrgScope, i64) {
    let org = db.store.create_organisation(&OrgName::parse(name).unwrap()).await.unwrap();
    let user = db.store.create_user(&email(owner), "Owner", None, 1).await.unwrap();
    let scope = OrgScope::for_operator(org.id);
    db.store.add_member(&scope, user.id, Role::Owner, 1).await.unwrap();
    (scope, user.id)
}

conformance!(the_last_owner_can_be_neither_demoted_nor_removed, |db: TestDatabase| async move {
    let (acme, ana) = org_with_owner(&db, "Acme", "ana@example.test").await;
    let err = db.store.change_role(&acme, ana, Role::Owner, Role::Admin).await.unwrap_err();
    assert!(matches!(err, StoreError::LastOwner), "{err:?}");
    let err = db.store.remove_member(&acme, ana, Role::Owner).await.unwrap_err();
    assert!(matches!(err, StoreError::LastOwner), "{err:?}");
    assert_eq!(db.store.member(&acme, ana).await.unwrap().role, Role::Owner);

    // With a second owner, one of them may step down; then the other is the last again.
    let bo = db.store.create_user(&email("bo@example.test"), "Bo", None, 1).await.unwrap();
    db.store.add_member(&acme, bo.id, Role::Viewer, 1).await.unwrap();
    db.store.change_role(&acme, bo.id, Role::Viewer, Role::Owner).await.unwrap();
    db.store.change_role(&acme, ana, Role::Owner, Role::Operator).await.unwrap();
    let err = db.store.remove_member(&acme, bo.id, Role::Owner).await.unwrap_err();
    assert!(matches!(err, StoreError::LastOwner), "{err:?}");
    db.store.remove_member(&acme, ana, Role::Operator).await.unwrap();
    let err = db.store.scope_for_member(ana, acme.org_id()).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
});

conformance!(a_role_change_based_on_a_stale_role_is_refused, |db: TestDatabase| async move {
    let (acme, _) = org_with_owner(&db, "Acme", "ana@example.test").await;
    let bo = db.store.create_user(&email("bo@example.test"), "Bo", None, 1).await.unwrap();
    db.store.add_member(&acme, bo.id, Role::Viewer, 1).await.unwrap();
    let err = db.store.change_role(&acme, bo.id, Role::Operator, Role::Admin).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let err = db.store.remove_member(&acme, bo.id, Role::Admin).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(db.store.member(&acme, bo.id).await.unwrap().role, Role::Viewer);
});

conformance!(concurrent_owners_stepping_down_leave_one_owner, |db: TestDatabase| async move {
    let (acme, ana) = org_with_owner(&db, "Acme", "ana@example.test").await;
    let bo = db.store.create_user(&email("bo@example.test"), "Bo", None, 1).await.unwrap();
    db.store.add_member(&acme, bo.id, Role::Owner, 1).await.unwrap();
    let (a, b) = tokio::join!(
        db.store.change_role(&acme, ana, Role::Owner, Role::Admin),
        db.store.change_role(&acme, bo.id, Role::Owner, Role::Admin),
    );
    assert!(a.is_ok() != b.is_ok(), "exactly one may step down: {a:?} {b:?}");
    let owners = db.store.members(&acme).await.unwrap().into_iter().filter(|m| m.role == Role::Owner).count();
    assert_eq!(owners, 1);
});

conformance!(removing_a_member_revokes_their_tokens_of_that_organisation_only, |db: TestDatabase| async move {
    let (acme, _) = org_with_owner(&db, "Acme", "ana@example.test").await;
    let (globex, _) = org_with_owner(&db, "Globex", "gus@example.test").await;
    let bo = db.store.create_user(&email("bo@example.test"), "Bo", None, 1).await.unwrap();
    db.store.add_member(&acme, bo.id, Role::Operator, 1).await.unwrap();
    db.store.add_member(&globex, bo.id, Role::Operator, 1).await.unwrap();
    let token = |hash: u8| NewApiToken {
        user_id: bo.id,
        name: "script".to_owned(),
        role: Role::Viewer,
        token_hash: [hash; 32],
        now_us: 10,
        expires_at_us: 1_000,
    };
    let at_acme = db.store.create_api_token(&acme, token(1)).await.unwrap();
    let at_globex = db.store.create_api_token(&globex, token(2)).await.unwrap();
    db.store.remove_member(&acme, bo.id, Role::Operator).await.unwrap();
    assert!(db.store.api_token_by_hash(&[1; 32]).await.unwrap().revoked);
    assert!(!db.store.api_token_by_hash(&[2; 32]).await.unwrap().revoked);
    assert_eq!(db.store.api_tokens(&acme).await.unwrap()[0].id, at_acme.id);
    assert_eq!(db.store.api_tokens(&globex).await.unwrap(), [at_globex]);
});

conformance!(api_tokens_are_scoped_found_by_hash_touched_and_revoked, |db: TestDatabase| async move {
    let (acme, ana) = org_with_owner(&db, "Acme", "ana@example.test").await;
    let (globex, _) = org_with_owner(&db, "Globex", "gus@example.test").await;
    let created = db
        .store
        .create_api_token(
            &acme,
            NewApiToken {
                user_id: ana,
                name: "export script".to_owned(),
                role: Role::Viewer,
                token_hash: [7; 32],
                now_us: 10,
                expires_at_us: 1_000,
            },
        )
        .await
        .unwrap();
    assert_eq!(created.org_id, acme.org_id());
    let found = db.store.api_token_by_hash(&[7; 32]).await.unwrap();
    assert_eq!(found, created);
    db.store.touch_api_token(created.id, 500).await.unwrap();
    db.store.touch_api_token(created.id, 400).await.unwrap();
    assert_eq!(db.store.api_token_by_hash(&[7; 32]).await.unwrap().last_used_us, Some(500));
    assert!(db.store.api_tokens(&globex).await.unwrap().is_empty());
    let err = db.store.revoke_api_token(&globex, created.id).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert!(db.store.revoke_api_token(&acme, created.id).await.unwrap().revoked);
    let err = db.store.api_token_by_hash(&[8; 32]).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
});

conformance!(an_invitation_is_used_once_and_creates_the_account_and_membership, |db: TestDatabase| async move {
    let (acme, ana) = org_with_owner(&db, "Acme", "ana@example.test").await;
    let (globex, _) = org_with_owner(&db, "Globex", "gus@example.test").await;
    let invitation = db
        .store
        .create_invitation(
            &acme,
            NewInvitation {
                email: email("Cy@Example.test"),
                role: Role::Operator,
                token_hash: [3; 32],
                invited_by: Some(ana),
                purpose: InvitationPurpose::Invitation,
                now_us: 100,
                expires_at_us: 1_000,
            },
        )
        .await
        .unwrap();
    assert_eq!(db.store.invitations(&acme, 200).await.unwrap(), std::slice::from_ref(&invitation));
    assert!(db.store.invitations(&acme, 1_000).await.unwrap().is_empty(), "expired ones are not pending");
    assert!(db.store.invitations(&globex, 200).await.unwrap().is_empty());
    let (found, organisation) = db.store.invitation_by_token(&[3; 32], 200).await.unwrap();
    assert_eq!((found, organisation.id), (invitation.clone(), acme.org_id()));
    assert_eq!(organisation.name.as_str(), "Acme");
    let err = db.store.invitation_by_token(&[3; 32], 1_000).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");

    let accepted = db.store.accept_invitation(&[3; 32], 300, new_account("Cy", Some("$argon2id$cy"))).await.unwrap();
    assert!(accepted.created_user && accepted.new_membership);
    assert_eq!((accepted.org_id, accepted.role), (acme.org_id(), Role::Operator));
    assert_eq!(accepted.user.email, email("cy@example.test"));
    let credentials = db.store.user_credentials(&email("cy@example.test")).await.unwrap();
    assert_eq!(credentials.password_hash.as_deref(), Some("$argon2id$cy"));
    assert_eq!(db.store.scope_for_member(accepted.user.id, acme.org_id()).await.unwrap().1, Role::Operator);

    let err = db.store.accept_invitation(&[3; 32], 301, new_account("Mallory", None)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "a second use is refused: {err:?}");
    assert!(db.store.invitations(&acme, 200).await.unwrap().is_empty());
});

conformance!(an_invitation_for_an_existing_account_keeps_its_password, |db: TestDatabase| async move {
    let (acme, ana) = org_with_owner(&db, "Acme", "ana@example.test").await;
    let bo = db.store.create_user(&email("bo@example.test"), "Bo", Some("$argon2id$bo"), 1).await.unwrap();
    let invite = |hash: u8, expires_at_us: i64| NewInvitation {
        email: email("bo@example.test"),
        role: Role::Viewer,
        token_hash: [hash; 32],
        invited_by: Some(ana),
        purpose: InvitationPurpose::Invitation,
        now_us: 100,
        expires_at_us,
    };
    // Creating a new account for a taken address, or accepting as another account, changes nothing.
    db.store.create_invitation(&acme, invite(4, 1_000)).await.unwrap();
    let err = db.store.accept_invitation(&[4; 32], 200, new_account("Mallory", Some("$x"))).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let as_ana = Acceptance::Existing { user_id: ana, password_hash: None };
    let err = db.store.accept_invitation(&[4; 32], 200, as_ana).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let as_bo = Acceptance::Existing { user_id: bo.id, password_hash: Some("$argon2id$new") };
    let accepted = db.store.accept_invitation(&[4; 32], 200, as_bo).await.unwrap();
    assert!(!accepted.created_user && accepted.new_membership);
    assert_eq!(accepted.user.id, bo.id);
    assert_eq!(db.store.user_credentials(&bo.email).await.unwrap().password_hash.as_deref(), Some("$argon2id$bo"));

    // A member already: the role they have stays, and the result says so.
    db.store.change_role(&acme, bo.id, Role::Viewer, Role::Operator).await.unwrap();
    let mut again = invite(7, 1_000);
    again.role = Role::Auditor;
    db.store.create_invitation(&acme, again).await.unwrap();
    let accepted = db.store.accept_invitation(&[7; 32], 200, as_bo).await.unwrap();
    assert_eq!((accepted.role, accepted.new_membership), (Role::Operator, false));

    // Expired and revoked invitations cannot be used.
    db.store.create_invitation(&acme, invite(5, 150)).await.unwrap();
    let err = db.store.accept_invitation(&[5; 32], 200, as_bo).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    let revocable = db.store.create_invitation(&acme, invite(6, 1_000)).await.unwrap();
    db.store.revoke_invitation(&acme, revocable.id).await.unwrap();
    let err = db.store.accept_invitation(&[6; 32], 200, as_bo).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
});

conformance!(only_a_setup_link_gives_an_existing_passwordless_account_its_password, |db: TestDatabase| async move {
    let (acme, ana) = org_with_owner(&db, "Acme", "ana@example.test").await;
    let invite = |hash: u8, purpose: InvitationPurpose| NewInvitation {
        email: email("ana@example.test"),
        role: Role::Owner,
        token_hash: [hash; 32],
        invited_by: None,
        purpose,
        now_us: 100,
        expires_at_us: 1_000,
    };
    let as_ana = Acceptance::Existing { user_id: ana, password_hash: Some("$argon2id$chosen") };
    db.store.create_invitation(&acme, invite(1, InvitationPurpose::Invitation)).await.unwrap();
    db.store.accept_invitation(&[1; 32], 200, as_ana).await.unwrap();
    assert_eq!(db.store.user_credentials(&email("ana@example.test")).await.unwrap().password_hash, None);
    let setup = db.store.create_invitation(&acme, invite(2, InvitationPurpose::Setup)).await.unwrap();
    assert_eq!(setup.purpose, InvitationPurpose::Setup);
    db.store.accept_invitation(&[2; 32], 200, as_ana).await.unwrap();
    let hash = db.store.user_credentials(&email("ana@example.test")).await.unwrap().password_hash;
    assert_eq!(hash.as_deref(), Some("$argon2id$chosen"));
});

conformance!(email_code_attempts_are_counted_per_address_and_step, |db: TestDatabase| async move {
    assert_eq!(db.store.record_email_code_attempt(&[1; 32], 10).await.unwrap(), 1);
    assert_eq!(db.store.record_email_code_attempt(&[1; 32], 10).await.unwrap(), 2);
    assert_eq!(db.store.record_email_code_attempt(&[2; 32], 10).await.unwrap(), 1);
    assert_eq!(db.store.record_email_code_attempt(&[1; 32], 11).await.unwrap(), 1, "a new step starts over");
    assert_eq!(db.store.record_email_code_attempt(&[1; 32], 10).await.unwrap(), 2, "the step never moves back");
});

conformance!(users_list_and_revoke_their_own_sessions_and_disabling_revokes_all, |db: TestDatabase| async move {
    let (acme, ana) = org_with_owner(&db, "Acme", "ana@example.test").await;
    let bo = db.store.create_user(&email("bo@example.test"), "Bo", None, 1).await.unwrap();
    let session = |user_id: i64, hash: u8| NewSession {
        token_hash: [hash; 32],
        user_id,
        now_us: 10,
        expires_at_us: 1_000,
        mfa_pending: false,
    };
    let first = db.store.create_session(session(ana, 1)).await.unwrap();
    let second = db.store.create_session(session(ana, 2)).await.unwrap();
    let third = db.store.create_session(session(ana, 3)).await.unwrap();
    let bos = db.store.create_session(session(bo.id, 4)).await.unwrap();
    let ids = |sessions: Vec<logvault_store::Session>| sessions.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(ids(db.store.user_sessions(ana, 20).await.unwrap()), [first, second, third]);
    assert!(db.store.user_sessions(ana, 1_000).await.unwrap().is_empty(), "expired sessions are not listed");

    assert!(!db.store.revoke_user_session(ana, bos).await.unwrap(), "not someone else's");
    assert!(db.store.revoke_user_session(ana, second).await.unwrap());
    assert!(!db.store.revoke_user_session(ana, second).await.unwrap());
    assert_eq!(db.store.revoke_other_sessions(ana, Some(first)).await.unwrap(), 1);
    assert_eq!(ids(db.store.user_sessions(ana, 20).await.unwrap()), [first]);
    assert_eq!(ids(db.store.user_sessions(bo.id, 20).await.unwrap()), [bos]);

    db.store
        .create_api_token(
            &acme,
            NewApiToken {
                user_id: ana,
                name: "t".to_owned(),
                role: Role::Viewer,
                token_hash: [9; 32],
                now_us: 10,
                expires_at_us: 1_000,
            },
        )
        .await
        .unwrap();
    db.store.set_user_disabled(ana, true).await.unwrap();
    assert!(db.store.user_by_id(ana).await.unwrap().disabled);
    assert!(db.store.user_sessions(ana, 20).await.unwrap().is_empty());
    assert!(db.store.api_token_by_hash(&[9; 32]).await.unwrap().revoked);
    let err = db.store.scope_for_member(ana, acme.org_id()).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "a disabled user has no scope: {err:?}");
    db.store.set_user_disabled(ana, false).await.unwrap();
    assert!(db.store.user_sessions(ana, 20).await.unwrap().is_empty(), "re-enabling does not revive sessions");
    let err = db.store.set_user_disabled(999_999, true).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
});

conformance!(require_mfa_is_an_organisation_policy_seen_by_its_members, |db: TestDatabase| async move {
    let (acme, ana) = org_with_owner(&db, "Acme", "ana@example.test").await;
    let (globex, gus) = org_with_owner(&db, "Globex", "gus@example.test").await;
    assert!(!db.store.require_mfa(&acme).await.unwrap());
    assert!(!db.store.user_requires_mfa(ana).await.unwrap());
    db.store.set_require_mfa(&acme, true).await.unwrap();
    assert!(db.store.require_mfa(&acme).await.unwrap());
    assert!(db.store.user_requires_mfa(ana).await.unwrap());
    assert!(!db.store.user_requires_mfa(gus).await.unwrap());
    assert!(!db.store.require_mfa(&globex).await.unwrap());
    assert_eq!(db.store.organisation(&acme).await.unwrap().name.as_str(), "Acme");
});

conformance!(an_email_code_is_replaced_not_too_often_and_used_once, |db: TestDatabase| async move {
    let (_, ana) = org_with_owner(&db, "Acme", "ana@example.test").await;
    assert_eq!(db.store.email_code(ana).await.unwrap(), None);
    assert!(db.store.put_email_code(ana, &[1; 32], 1_000, 2_000, 60).await.unwrap());
    assert!(!db.store.put_email_code(ana, &[2; 32], 1_030, 2_030, 60).await.unwrap(), "too soon");
    assert_eq!(db.store.email_code(ana).await.unwrap().unwrap().code_hash, [1; 32]);
    assert!(db.store.put_email_code(ana, &[2; 32], 1_060, 2_060, 60).await.unwrap());
    let code = db.store.email_code(ana).await.unwrap().unwrap();
    assert_eq!((code.code_hash, code.expires_at_us, code.used), ([2; 32], 2_060, false));
    assert!(!db.store.use_email_code(ana, &[1; 32]).await.unwrap(), "the replaced code is dead");
    assert!(db.store.use_email_code(ana, &[2; 32]).await.unwrap());
    assert!(!db.store.use_email_code(ana, &[2; 32]).await.unwrap(), "single use");
    assert!(db.store.email_code(ana).await.unwrap().unwrap().used);
});

conformance!(removing_totp_removes_its_recovery_codes, |db: TestDatabase| async move {
    let (_, ana) = org_with_owner(&db, "Acme", "ana@example.test").await;
    assert!(!db.store.remove_totp(ana).await.unwrap());
    db.store.put_unconfirmed_totp(ana, b"sealed", 1).await.unwrap();
    db.store.confirm_totp(ana, 5, &[[1; 32], [2; 32]], b"sealed").await.unwrap();
    assert!(db.store.remove_totp(ana).await.unwrap());
    assert_eq!(db.store.totp(ana).await.unwrap(), None);
    assert!(db.store.unused_recovery_codes(ana).await.unwrap().is_empty());
    assert_eq!(db.store.count_users().await.unwrap(), 1);
});

conformance!(a_membership_scoped_to_a_site_narrows_the_scope_to_that_site, |db: TestDatabase| async move {
    let (acme, ana) = org_with_owner(&db, "Acme", "ana@example.test").await;
    let (globex, _) = org_with_owner(&db, "Globex", "gus@example.test").await;
    let cold = db.store.create_site(&acme, "Cold store", 1).await.unwrap();
    let plant = db.store.create_site(&acme, "Plant room", 1).await.unwrap();
    let foreign = db.store.create_site(&globex, "Cold store", 1).await.unwrap();
    let err = db.store.create_site(&acme, "Cold store", 2).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let bo = db.store.create_user(&email("bo@example.test"), "Bo", None, 1).await.unwrap();
    db.store.add_member(&acme, bo.id, Role::Operator, 1).await.unwrap();

    // Only the organisation's own sites, and never for an owner or admin.
    let err = db.store.set_member_site(&acme, bo.id, Some(foreign.id)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    let err = db.store.set_member_site(&acme, ana, Some(cold.id)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    db.store.set_member_site(&acme, bo.id, Some(cold.id)).await.unwrap();

    let (scope, _) = db.store.scope_for_member(bo.id, acme.org_id()).await.unwrap();
    assert_eq!(scope.site_id(), Some(cold.id));
    assert_eq!(db.store.sites(&scope).await.unwrap(), std::slice::from_ref(&cold));
    assert_eq!(db.store.sites(&acme).await.unwrap(), [cold.clone(), plant]);
    assert_eq!(db.store.member(&acme, bo.id).await.unwrap().site_id, Some(cold.id));
    assert_eq!(db.store.memberships(bo.id).await.unwrap()[0].site_id, Some(cold.id));

    db.store.set_member_site(&acme, bo.id, None).await.unwrap();
    let (scope, _) = db.store.scope_for_member(bo.id, acme.org_id()).await.unwrap();
    assert_eq!(scope.site_id(), None);
});
