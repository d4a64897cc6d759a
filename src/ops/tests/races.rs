//! Reconcile running while an operation is under way: the fake stops the operation's `issue`
//! before or after the backend acts, the test runs `finish` in between, then lets it go on.

use super::{
    Choice, Harness,
    fake::{Method, Moment, Outcome},
};
use crate::{domain::services::CredentialState, ops::OpError};

/// An add whose row reconcile drops while the backend is issuing the key: the add revokes the key
/// it was then given, so that nobody's key stays live.
#[tokio::test]
async fn add_overtaken_by_reconcile_revokes_the_key_it_issued() {
    let h = Harness::new(Choice::Keyport).await;
    let (reached, release) = h.fake.pause(Method::Issue, Moment::Before);

    let (added, _) = tokio::join!(h.add("job"), async {
        reached.notified().await;
        let row = h.in_state("job", CredentialState::Creating).await;
        h.finish(&row).await.expect("reconcile undoes the add");
        release.notify_one();
    });

    assert!(matches!(added, Err(OpError::Busy)), "{:?}", added.err());
    assert!(h.rows().await.is_empty());
    assert!(
        h.fake.live().is_empty(),
        "the issued key is revoked: {:?}",
        h.fake.live()
    );
}

/// BUG: a regeneration whose row reconcile undid while the backend was issuing the new key
/// answers `Busy`, but leaves that key live at the backend: no row knows it, and since Keyport
/// chose it, no later reconcile revokes it either (add, in the same case, revokes it).
#[tokio::test]
async fn regenerate_overtaken_by_reconcile_leaves_no_new_key_live() {
    let h = Harness::new(Choice::Keyport).await;
    let before = h.added("job").await;
    let (reached, release) = h.fake.pause(Method::Issue, Moment::Before);

    let (done, _) = tokio::join!(h.regenerate(&before.id), async {
        reached.notified().await;
        let row = h.in_state("job", CredentialState::Rotating).await;
        h.finish(&row)
            .await
            .expect("reconcile undoes the regeneration");
        release.notify_one();
    });

    assert!(matches!(done, Err(OpError::Busy)), "{:?}", done.err());
    let after = h.row(&before.id).await.unwrap();
    assert_eq!(
        (after.state, after.access_key.as_str()),
        (CredentialState::Active, before.access_key.as_str())
    );
    assert!(h.works(&after).await);
    assert_eq!(
        h.fake.live(),
        [before.access_key.clone()],
        "no key but the credential's is live"
    );
}

/// BUG: where the backend chooses keys (IAM), undoing an old interrupted add revokes every key of
/// the owner's backend user that no row knows yet, including the key another add of the same
/// owner has just been given and not recorded yet: that add then succeeds with a revoked key.
#[tokio::test]
async fn undoing_an_old_add_spares_the_key_of_an_add_under_way() {
    let h = Harness::new(Choice::Backend).await;
    let old = h.creating(Outcome::UncertainAfter).await;
    let (reached, release) = h.fake.pause(Method::Issue, Moment::After);

    let (added, _) = tokio::join!(h.add("retry"), async {
        reached.notified().await;
        h.finish(&old).await.expect("reconcile undoes the old add");
        release.notify_one();
    });

    let added = added.expect("the second add succeeds");
    assert!(h.row(&old.id).await.is_none(), "the old add is undone");
    let retry = h.in_state("retry", CredentialState::Active).await;
    assert_eq!(retry.access_key, added.access_key);
    assert!(
        h.works(&retry).await,
        "the key the add returned works at the backend"
    );
}

/// BUG: the same for a regeneration under way: its new key is revoked, then the regeneration
/// revokes the old key, and the credential has no working key left.
#[tokio::test]
async fn undoing_an_old_add_spares_the_new_key_of_a_regeneration_under_way() {
    let h = Harness::new(Choice::Backend).await;
    let kept = h.added("kept").await;
    let old = h.creating(Outcome::UncertainAfter).await;
    let (reached, release) = h.fake.pause(Method::Issue, Moment::After);

    let (done, _) = tokio::join!(h.regenerate(&kept.id), async {
        reached.notified().await;
        h.finish(&old).await.expect("reconcile undoes the old add");
        release.notify_one();
    });

    let done = done.expect("the regeneration succeeds");
    let after = h.in_state("kept", CredentialState::Active).await;
    assert_eq!(after.access_key, done.access_key);
    assert!(
        h.works(&after).await,
        "the regenerated credential works at the backend"
    );
}

/// Two adds past the first check of the limit at once: the limit is checked again under the
/// project's lock, and the later add is refused with `LimitReached` before it asks the backend for
/// a key.
#[tokio::test]
async fn concurrent_add_beyond_the_limit_is_limit_reached_before_issuing() {
    let h = Harness::with_limit(Choice::Backend, 1).await;
    let (reached, release) = h.fake.pause(Method::User, Moment::Before);

    let (first, second) = tokio::join!(h.add("first"), async {
        reached.notified().await;
        let second = h.add("second").await;
        release.notify_one();
        second
    });

    let second = second.expect("the add that got there first succeeds");
    assert!(
        matches!(first, Err(OpError::LimitReached(1))),
        "{:?}",
        first.err()
    );
    assert_eq!(h.fake.count(Method::Issue), 1, "only one key was asked for");
    assert_eq!(h.fake.live(), [second.access_key]);
    let rows = h.rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].name, "second");
}
