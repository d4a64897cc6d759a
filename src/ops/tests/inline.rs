//! Add, regenerate and delete as they run: a certain failure puts the row back and leaves nothing
//! at the backend, an uncertain one leaves the row in its intent state, a row under way refuses a
//! second operation, and the key limit is checked before the backend is called.

use super::{
    BOTH, Choice, Harness, OWNER,
    fake::{Method, Outcome},
    requester, snapshot,
};
use crate::{domain::services::CredentialState, ops::OpError};

const CERTAIN: [Outcome; 2] = [Outcome::Refused, Outcome::Unreachable];

#[tokio::test]
async fn add_regenerate_delete_keep_row_backend_and_audit_in_step() {
    for choice in BOTH {
        let h = Harness::new(choice).await;
        let added = h.added("job").await;
        assert_eq!(added.state, CredentialState::Active);
        assert!(h.works(&added).await, "{choice:?}: the added key works");
        assert_eq!(h.fake.live(), [added.access_key.as_str()]);

        let done = h.regenerate(&added.id).await.expect("regenerated");
        assert!(done.warning.is_none());
        let after = h.row(&added.id).await.unwrap();
        assert_eq!(after.state, CredentialState::Active);
        assert_eq!(after.access_key, done.access_key);
        assert!(h.works(&after).await, "{choice:?}: the new key works");
        assert_eq!(
            h.fake.live(),
            [done.access_key.as_str()],
            "{choice:?}: old key revoked"
        );

        h.delete(&added.id).await.expect("deleted");
        assert!(h.row(&added.id).await.is_none());
        assert!(
            h.fake.live().is_empty(),
            "{choice:?}: nothing left at the backend"
        );

        let actions: Vec<_> = h
            .audit()
            .await
            .into_iter()
            .map(|e| (e.0, e.1, e.3))
            .collect();
        let replaced = format!("{} replaced {}", done.access_key, added.access_key);
        assert_eq!(
            actions,
            [
                (
                    OWNER.into(),
                    "credential.create".into(),
                    added.access_key.clone()
                ),
                (OWNER.into(), "credential.regenerate".into(), replaced),
                (
                    OWNER.into(),
                    "credential.delete".into(),
                    done.access_key.clone()
                ),
            ],
            "{choice:?}"
        );
    }
}

#[tokio::test]
async fn add_failing_certainly_leaves_no_row_and_no_key() {
    for choice in BOTH {
        for outcome in CERTAIN {
            let h = Harness::new(choice).await;
            h.fake.set(Method::Issue, outcome);
            let added = h.add("job").await;
            assert!(
                matches!(added, Err(OpError::Backend(_))),
                "{choice:?} {outcome:?}"
            );
            assert!(h.rows().await.is_empty(), "{choice:?} {outcome:?}: no row");
            assert!(h.fake.live().is_empty(), "{choice:?} {outcome:?}: no key");
            assert!(h.audit().await.is_empty());
        }
    }
}

#[tokio::test]
async fn add_failing_uncertainly_leaves_the_row_creating_with_its_requester() {
    for choice in BOTH {
        let h = Harness::new(choice).await;
        let row = h.creating(Outcome::UncertainBefore).await;
        assert_eq!(requester(&row).label, OWNER);
        assert_eq!(
            requester(&row).user_id.as_deref(),
            Some(h.who.member().unwrap().id.as_str())
        );
        assert_eq!(row.access_key.is_empty(), matches!(choice, Choice::Backend));
        assert!(
            h.audit().await.is_empty(),
            "{choice:?}: nothing is created yet"
        );
    }
}

#[tokio::test]
async fn regenerate_failing_certainly_restores_the_active_row_and_old_key() {
    for choice in BOTH {
        for outcome in CERTAIN {
            let h = Harness::new(choice).await;
            let before = h.added("job").await;
            h.fake.set(Method::Issue, outcome);
            let done = h.regenerate(&before.id).await;
            assert!(
                matches!(done, Err(OpError::Backend(_))),
                "{choice:?} {outcome:?}"
            );
            let after = h.row(&before.id).await.unwrap();
            assert_eq!(
                snapshot(&after),
                snapshot(&before),
                "{choice:?} {outcome:?}"
            );
            assert_eq!(
                h.fake.live(),
                [before.access_key.as_str()],
                "{choice:?} {outcome:?}"
            );
            assert!(h.works(&after).await);
            assert!(h.audited("credential.regenerate").await.is_empty());
        }
    }
}

#[tokio::test]
async fn regenerate_failing_uncertainly_leaves_the_row_rotating_with_the_chosen_key_pending() {
    for choice in BOTH {
        let h = Harness::new(choice).await;
        let (row, old) = h.rotating(Outcome::UncertainAfter).await;
        assert_eq!(
            row.access_key, old,
            "{choice:?}: the old key is still the credential's"
        );
        assert_eq!(requester(&row).label, OWNER);
        match choice {
            Choice::Keyport => {
                assert!(row.pending_secret.is_some());
                let live = h.fake.live();
                assert!(live.contains(&row.pending_access_key), "{live:?}");
            }
            Choice::Backend => assert_eq!(row.pending_access_key, ""),
        }
        assert!(h.audited("credential.regenerate").await.is_empty());
    }
}

#[tokio::test]
async fn delete_failing_certainly_restores_the_active_row_and_its_key() {
    for choice in BOTH {
        for outcome in CERTAIN {
            let h = Harness::new(choice).await;
            let before = h.added("job").await;
            h.fake.set(Method::Revoke, outcome);
            let done = h.delete(&before.id).await;
            assert!(
                matches!(done, Err(OpError::Backend(_))),
                "{choice:?} {outcome:?}"
            );
            let after = h.row(&before.id).await.expect("the row stays");
            assert_eq!(
                snapshot(&after),
                snapshot(&before),
                "{choice:?} {outcome:?}"
            );
            assert!(h.works(&after).await);
            assert!(h.audited("credential.delete").await.is_empty());
        }
    }
}

#[tokio::test]
async fn delete_failing_uncertainly_leaves_the_row_deleting_with_its_requester() {
    let h = Harness::new(Choice::Backend).await;
    let row = h.deleting(Outcome::UncertainAfter).await;
    assert_eq!(requester(&row).label, OWNER);
    assert!(h.audited("credential.delete").await.is_empty());
}

#[tokio::test]
async fn regenerate_and_delete_of_a_row_under_way_are_busy_and_call_no_backend() {
    let h = Harness::with_limit(Choice::Keyport, 5).await;
    let rows = [
        h.creating(Outcome::UncertainBefore).await,
        h.rotating(Outcome::UncertainBefore).await.0,
        h.retiring(Outcome::Unreachable).await.0,
        h.deleting(Outcome::UncertainBefore).await,
    ];
    let live = h.fake.live();
    for row in &rows {
        h.fake.forget_calls();
        let regenerated = h.regenerate(&row.id).await;
        assert!(
            matches!(regenerated, Err(OpError::Busy)),
            "{}: {:?}",
            row.state,
            regenerated.err()
        );
        let deleted = h.delete(&row.id).await;
        assert!(
            matches!(deleted, Err(OpError::Busy)),
            "{}: {:?}",
            row.state,
            deleted.err()
        );
        assert!(
            h.fake.backend_calls().is_empty(),
            "{}: {:?}",
            row.state,
            h.fake.calls()
        );
        let now = h.row(&row.id).await.unwrap();
        assert_eq!(snapshot(&now), snapshot(row), "{} is untouched", row.state);
    }
    assert_eq!(h.fake.live(), live);
}

#[tokio::test]
async fn regenerate_whose_old_key_revoke_fails_warns_and_leaves_retiring_audited_once() {
    for choice in BOTH {
        for outcome in [
            Outcome::Refused,
            Outcome::Unreachable,
            Outcome::UncertainBefore,
        ] {
            let h = Harness::new(choice).await;
            let before = h.added("job").await;
            h.fake.set(Method::Revoke, outcome);
            let done = h.regenerate(&before.id).await.expect("the new key works");
            let warning = done.warning.expect("a warning");
            assert!(warning.contains("Reconcile will retry"), "{warning}");
            let row = h.row(&before.id).await.unwrap();
            assert_eq!(
                row.state,
                CredentialState::Retiring,
                "{choice:?} {outcome:?}"
            );
            assert_eq!(row.access_key, done.access_key);
            assert_eq!(row.pending_access_key, before.access_key);
            assert!(
                h.works(&row).await,
                "{choice:?} {outcome:?}: the new key works"
            );
            let regenerated = h.audited("credential.regenerate").await;
            assert_eq!(regenerated.len(), 1, "{choice:?} {outcome:?}");
            assert_eq!(regenerated[0].0, OWNER);
            assert!(regenerated[0].3.contains(&before.access_key));
            assert!(regenerated[0].3.contains(&done.access_key));
        }
    }
}

#[tokio::test]
async fn add_beyond_the_limit_is_invalid_on_limit_without_backend_call() {
    let h = Harness::with_limit(Choice::Backend, 1).await;
    h.added("first").await;
    h.fake.forget_calls();

    let refused = h.add("second").await;

    let Err(OpError::Invalid(errors)) = refused else {
        panic!("refused on the limit: {:?}", refused.err());
    };
    assert!(errors.get("limit").is_some(), "{}", errors.summary());
    assert!(h.fake.calls().is_empty(), "{:?}", h.fake.calls());
    assert_eq!(h.rows().await.len(), 1);
    assert_eq!(h.fake.live().len(), 1);
}

#[tokio::test]
async fn interrupted_add_holds_its_place_under_the_limit() {
    let h = Harness::with_limit(Choice::Keyport, 1).await;
    h.creating(Outcome::UncertainBefore).await;
    h.fake.forget_calls();

    let refused = h.add("second").await;

    assert!(
        matches!(&refused, Err(OpError::Invalid(e)) if e.get("limit").is_some()),
        "{:?}",
        refused.err()
    );
    assert!(h.fake.calls().is_empty());
}
