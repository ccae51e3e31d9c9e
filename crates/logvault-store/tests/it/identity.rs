//! Users, memberships, scopes and sessions on both engines.

use logvault_core::authz::Role;
use logvault_core::{Email, OrgName};
use logvault_store::testing::TestDatabase;
use logvault_store::{NewSession, OrgScope, StoreError, conformance};

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

conformance!(a_user_is_created_once_per_email_and_found_with_credentials, |db: TestDatabase| async move {
    let user = db.store.create_user(&email("Ana@Example.test"), "Ana Lima", Some("$argon2id$phc"), 1).await.unwrap();
    let found = db.store.user_credentials(&email("ana@example.test")).await.unwrap();
    assert_eq!(found.user, user);
    assert_eq!(found.password_hash.as_deref(), Some("$argon2id$phc"));
    assert_eq!(db.store.user_by_id(user.id).await.unwrap(), user);
    let err = db.store.create_user(&email("ana@example.test"), "Other", None, 2).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { entity: "user" }), "{err:?}");
    let err = db.store.user_credentials(&email("nobody@example.test")).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { entity: "user" }), "{err:?}");
    db.store.set_password_hash(user.id, "$argon2id$new").await.unwrap();
    assert_eq!(db.store.user_credentials(&user.email).await.unwrap().password_hash.as_deref(), Some("$argon2id$new"));
});

conformance!(a_scope_exists_only_for_a_current_member_of_that_organisation, |db: TestDatabase| async move {
    let acme = db.store.create_organisation(&OrgName::parse("Acme").unwrap()).await.unwrap();
    let globex = db.store.create_organisation(&OrgName::parse("Globex").unwrap()).await.unwrap();
    let ana = db.store.create_user(&email("ana@example.test"), "Ana", None, 1).await.unwrap();
    db.store.add_member(&OrgScope::for_operator(acme.id), ana.id, Role::Operator, 1).await.unwrap();

    let (scope, role) = db.store.scope_for_member(ana.id, acme.id).await.unwrap();
    assert_eq!((scope.org_id(), role), (acme.id, Role::Operator));
    let err = db.store.scope_for_member(ana.id, globex.id).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");

    let memberships = db.store.memberships(ana.id).await.unwrap();
    assert_eq!(memberships.len(), 1);
    assert_eq!(memberships[0].organisation, acme);
    assert_eq!(memberships[0].role, Role::Operator);

    let err = db.store.add_member(&OrgScope::for_operator(acme.id), ana.id, Role::Viewer, 2).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
});

conformance!(members_are_listed_only_within_their_organisation, |db: TestDatabase| async move {
    let acme = db.store.create_organisation(&OrgName::parse("Acme").unwrap()).await.unwrap();
    let globex = db.store.create_organisation(&OrgName::parse("Globex").unwrap()).await.unwrap();
    let ana = db.store.create_user(&email("ana@example.test"), "Ana", None, 1).await.unwrap();
    let bo = db.store.create_user(&email("bo@example.test"), "Bo", None, 1).await.unwrap();
    db.store.add_member(&OrgScope::for_operator(acme.id), ana.id, Role::Owner, 1).await.unwrap();
    db.store.add_member(&OrgScope::for_operator(globex.id), bo.id, Role::Owner, 1).await.unwrap();
    let (acme_scope, _) = db.store.scope_for_member(ana.id, acme.id).await.unwrap();
    let members = db.store.members(&acme_scope).await.unwrap();
    assert_eq!(members.iter().map(|m| m.user.id).collect::<Vec<_>>(), [ana.id]);
});

conformance!(sessions_are_found_by_token_hash_touched_and_revoked, |db: TestDatabase| async move {
    let ana = db.store.create_user(&email("ana@example.test"), "Ana", None, 1).await.unwrap();
    let id = db
        .store
        .create_session(NewSession {
            token_hash: [7; 32],
            user_id: ana.id,
            now_us: 1_000,
            expires_at_us: 5_000,
            mfa_pending: true,
        })
        .await
        .unwrap();
    let session = db.store.session_by_token_hash(&[7; 32]).await.unwrap();
    assert_eq!((session.id, session.user_id, session.revoked, session.mfa_pending), (id, ana.id, false, true));
    db.store.touch_session(id, 2_000).await.unwrap();
    db.store.touch_session(id, 1_500).await.unwrap();
    assert_eq!(db.store.session_by_token_hash(&[7; 32]).await.unwrap().last_seen_us, 2_000);
    db.store.revoke_session(id).await.unwrap();
    assert!(db.store.session_by_token_hash(&[7; 32]).await.unwrap().revoked);
    let err = db.store.session_by_token_hash(&[8; 32]).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
});

conformance!(totp_steps_and_recovery_codes_are_single_use, |db: TestDatabase| async move {
    let ana = db.store.create_user(&email("ana@example.test"), "Ana", None, 1).await.unwrap();
    assert_eq!(db.store.totp(ana.id).await.unwrap(), None);
    db.store.put_unconfirmed_totp(ana.id, b"sealed-1", 1).await.unwrap();
    db.store.put_unconfirmed_totp(ana.id, b"sealed-2", 2).await.unwrap();
    let record = db.store.totp(ana.id).await.unwrap().unwrap();
    assert_eq!((record.secret_sealed.as_slice(), record.confirmed), (b"sealed-2".as_slice(), false));
    assert!(!db.store.use_totp_step(ana.id, 10).await.unwrap(), "an unconfirmed secret is no factor");

    let err = db.store.confirm_totp(ana.id, 100, &[[1; 32]], b"sealed-1").await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "confirmed a secret the user was not shown: {err:?}");
    db.store.confirm_totp(ana.id, 100, &[[1; 32], [2; 32]], b"sealed-2").await.unwrap();
    let err = db.store.put_unconfirmed_totp(ana.id, b"sealed-3", 3).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "a confirmed secret was replaced: {err:?}");
    assert!(!db.store.use_totp_step(ana.id, 100).await.unwrap(), "the enrolment step was reused");
    assert!(db.store.use_totp_step(ana.id, 101).await.unwrap());
    assert!(!db.store.use_totp_step(ana.id, 101).await.unwrap());
    assert!(!db.store.use_totp_step(ana.id, 99).await.unwrap());

    let code = |idx, byte| logvault_store::RecoveryCodeRecord { idx, code_hash: [byte; 32] };
    assert_eq!(db.store.unused_recovery_codes(ana.id).await.unwrap(), [code(0, 1), code(1, 2)]);
    assert!(db.store.use_recovery_code(ana.id, 1).await.unwrap());
    assert!(!db.store.use_recovery_code(ana.id, 1).await.unwrap());
    assert_eq!(db.store.unused_recovery_codes(ana.id).await.unwrap(), [code(0, 1)]);

    assert_eq!(db.store.mfa_failures(ana.id, 7).await.unwrap(), 0);
    assert_eq!(db.store.record_mfa_attempt(ana.id, 7).await.unwrap(), 1);
    assert_eq!(db.store.record_mfa_attempt(ana.id, 7).await.unwrap(), 2);
    assert_eq!(db.store.record_mfa_attempt(ana.id, 8).await.unwrap(), 1, "a new step starts a new count");
    assert_eq!(db.store.record_mfa_attempt(ana.id, 7).await.unwrap(), 2, "a late request reopened an old step");
    assert_eq!(db.store.mfa_failures(ana.id, 8).await.unwrap(), 2);
});

conformance!(sign_in_failures_lock_atomically_and_reset, |db: TestDatabase| async move {
    let ana = db.store.create_user(&email("ana@example.test"), "Ana", None, 1).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move { store.begin_sign_in_attempt(ana.id, 1_000_000).await }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let counters = db.store.account_counters(ana.id).await.unwrap();
    assert_eq!(counters.consecutive_failures, 10, "concurrent failures were lost");
    assert!(counters.is_locked(1_000_001));
    assert_eq!(db.store.begin_sign_in_attempt(ana.id, 1_000_001).await.unwrap(), None, "a locked account counted");
    assert_eq!(db.store.account_counters(ana.id).await.unwrap().consecutive_failures, 10);
    db.store.reset_sign_in_failures(ana.id).await.unwrap();
    assert!(!db.store.account_counters(ana.id).await.unwrap().is_locked(1_000_001));

    let key = [9u8; 32];
    assert_eq!(db.store.client_bucket(&key, 5).await.unwrap().milli_tokens, 100_000);
    assert_eq!(db.store.begin_client_attempt(&key, 5).await.unwrap().unwrap().milli_tokens, 99_000);
    assert_eq!(db.store.client_bucket(&key, 5).await.unwrap().milli_tokens, 99_000);
    db.store.refund_client_attempt(&key).await.unwrap();
    db.store.refund_client_attempt(&key).await.unwrap();
    assert_eq!(db.store.client_bucket(&key, 5).await.unwrap().milli_tokens, 100_000, "a refund overfilled");
    // Concurrent attempts cannot take more than the bucket holds.
    let mut tasks = Vec::new();
    for _ in 0..120 {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move { store.begin_client_attempt(&[9u8; 32], 5).await }));
    }
    let mut allowed = 0;
    for task in tasks {
        if task.await.unwrap().unwrap().is_ok() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 100);
});
