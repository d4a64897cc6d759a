//! A backend that fails while reconcile finishes an operation: the row stays as it was, for the
//! next round, which then finishes it.

use super::{
    BOTH, Choice, Harness, OWNER, RECONCILER,
    fake::{Method, Outcome},
    snapshot,
};
use crate::{db::credentials::Credential, domain::services::CredentialState, ops::OpError};

/// Finishes `row` with `method` failing each way: certainly (refused, unreachable) and
/// uncertainly (before and after acting). Each time the row stays as it was and nothing is
/// audited; where the backend did not act it is unchanged too. Then the backend answers again.
async fn fails_then_recovers(h: &Harness, row: &Credential, method: Method) {
    for outcome in [
        Outcome::Refused,
        Outcome::Unreachable,
        Outcome::UncertainBefore,
        Outcome::UncertainAfter,
    ] {
        let (live, audit) = (h.fake.live(), h.audit().await);
        h.fake.set(method, outcome);
        let done = h.finish(row).await;
        h.fake.set(method, Outcome::Succeed);
        assert!(
            matches!(done, Err(OpError::Backend(_))),
            "{method:?} {outcome:?}: {done:?}"
        );
        let now = h.row(&row.id).await.expect("the row stays");
        assert_eq!(snapshot(&now), snapshot(row), "{method:?} {outcome:?}");
        assert_eq!(
            h.audit().await,
            audit,
            "{method:?} {outcome:?}: nothing audited"
        );
        if outcome != Outcome::UncertainAfter || method == Method::IsLive {
            assert_eq!(h.fake.live(), live, "{method:?} {outcome:?}");
        }
    }
    h.finish(row).await.expect("the next round finishes it");
}

#[tokio::test]
async fn finish_of_creating_keeps_the_row_while_the_backend_fails() {
    for choice in BOTH {
        let h = Harness::new(choice).await;
        let row = h.creating(Outcome::UncertainAfter).await;
        let (method, finished) = match choice {
            Choice::Keyport => (Method::IsLive, true),
            Choice::Backend => (Method::Revoke, false),
        };
        fails_then_recovers(&h, &row, method).await;
        let after = h.row(&row.id).await;
        assert_eq!(after.is_some(), finished, "{choice:?}");
        assert_eq!(h.fake.live().len(), usize::from(finished), "{choice:?}");
    }
}

#[tokio::test]
async fn finish_of_creating_keeps_the_row_while_the_backend_cannot_list_keys() {
    let h = Harness::new(Choice::Backend).await;
    let row = h.creating(Outcome::UncertainAfter).await;
    fails_then_recovers(&h, &row, Method::ListKeys).await;
    assert!(h.row(&row.id).await.is_none());
    assert!(h.fake.live().is_empty());
}

#[tokio::test]
async fn finish_of_rotating_keeps_the_row_while_the_backend_fails() {
    for choice in BOTH {
        let h = Harness::new(choice).await;
        let (row, old) = h.rotating(Outcome::UncertainAfter).await;
        let (method, kept) = match choice {
            Choice::Keyport => (Method::IsLive, row.pending_access_key.clone()),
            Choice::Backend => (Method::Revoke, old),
        };
        fails_then_recovers(&h, &row, method).await;
        let after = h.row(&row.id).await.unwrap();
        assert_eq!(after.state, CredentialState::Active, "{choice:?}");
        assert_eq!(after.access_key, kept, "{choice:?}");
        assert_eq!(h.fake.live(), [kept], "{choice:?}");
        assert!(h.works(&after).await);
    }
}

#[tokio::test]
async fn finish_of_retiring_keeps_the_row_while_the_backend_fails() {
    let h = Harness::new(Choice::Backend).await;
    let (row, _) = h.retiring(Outcome::Refused).await;
    fails_then_recovers(&h, &row, Method::Revoke).await;
    let after = h.row(&row.id).await.unwrap();
    assert_eq!(after.state, CredentialState::Active);
    assert_eq!(h.fake.live(), [row.access_key.as_str()]);
    assert_eq!(h.audited("credential.regenerate").await.len(), 1);
}

#[tokio::test]
async fn finish_of_deleting_keeps_the_row_while_the_backend_fails() {
    let h = Harness::new(Choice::Keyport).await;
    let row = h.deleting(Outcome::UncertainBefore).await;
    fails_then_recovers(&h, &row, Method::Revoke).await;
    assert!(h.row(&row.id).await.is_none());
    assert!(h.fake.live().is_empty());
    assert_eq!(h.audited("credential.delete").await.len(), 1);
}

/// Reconcile puts the new key in place, then cannot revoke the old one: the regeneration is
/// recorded (in the requester's name) and the row goes on as `Retiring`; the next round revokes
/// the old key without recording the regeneration again.
#[tokio::test]
async fn finish_of_rotating_whose_old_key_revoke_fails_goes_on_as_retiring_audited_once() {
    let h = Harness::new(Choice::Keyport).await;
    let (row, old) = h.rotating(Outcome::UncertainAfter).await;
    let new = row.pending_access_key.clone();
    h.fake.set(Method::Revoke, Outcome::Unreachable);

    assert!(
        h.finish(&row).await.is_err(),
        "the old key is not revoked yet"
    );

    let retiring = h.row(&row.id).await.unwrap();
    assert_eq!(retiring.state, CredentialState::Retiring);
    assert_eq!(
        (
            retiring.access_key.as_str(),
            retiring.pending_access_key.as_str()
        ),
        (new.as_str(), old.as_str())
    );
    assert!(h.works(&retiring).await, "the new key is the credential's");
    let regenerated = h.audited("credential.regenerate").await;
    assert_eq!(regenerated.len(), 1);
    assert_eq!(regenerated[0].0, OWNER);

    h.fake.set(Method::Revoke, Outcome::Succeed);
    h.finish(&retiring)
        .await
        .expect("the next round finishes it");

    let after = h.row(&row.id).await.unwrap();
    assert_eq!(after.state, CredentialState::Active);
    assert_eq!(h.fake.live(), [new]);
    assert_eq!(
        h.audited("credential.regenerate").await.len(),
        1,
        "not audited again"
    );
    let reconciled = h.audited("credential.reconcile").await;
    assert_eq!(reconciled.len(), 1);
    assert_eq!(reconciled[0].0, RECONCILER);
}
