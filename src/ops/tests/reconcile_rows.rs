//! The reconcile table of `ops::lifecycle`, row by row: each interrupted state, with the
//! backend holding the new (or old) key or not, and the key chosen by Keyport or by the backend.

use super::{
    BOTH, Choice, Harness, OWNER, RECONCILER,
    fake::{Method, Outcome},
    requester,
};
use crate::domain::services::CredentialState;

/// The one event of `action`, checked to be by `actor` on `target`; returns its detail.
async fn one_event(h: &Harness, action: &str, actor: &str, target: &str) -> String {
    let events = h.audited(action).await;
    assert_eq!(events.len(), 1, "one {action}: {events:?}");
    let (who, _, on, detail) = events.into_iter().next().unwrap();
    assert_eq!(who, actor, "{action} is recorded in the name of {actor}");
    assert_eq!(on, target);
    detail
}

/// The reconcile event of an undone operation: by the reconciler, naming the requester.
async fn undone_event(h: &Harness, target: &str) -> String {
    let detail = one_event(h, "credential.reconcile", RECONCILER, target).await;
    assert!(detail.starts_with("undone"), "{detail}");
    assert!(
        detail.contains(&format!("asked for by {OWNER}")),
        "{detail}"
    );
    detail
}

#[tokio::test]
async fn creating_with_chosen_key_live_is_activated_and_audited_as_create_by_requester() {
    let h = Harness::new(Choice::Keyport).await;
    let row = h.creating(Outcome::UncertainAfter).await;
    assert!(
        !row.access_key.is_empty(),
        "the row holds the key Keyport chose"
    );
    assert_eq!(requester(&row).label, OWNER);
    assert_eq!(h.fake.live(), [row.access_key.as_str()]);

    h.finish(&row).await.expect("finished");

    let after = h.row(&row.id).await.expect("the credential stays");
    assert_eq!(after.state, CredentialState::Active);
    assert_eq!(after.access_key, row.access_key);
    assert_eq!(after.requested_by, "");
    assert!(h.works(&after).await, "the credential Keyport holds works");
    assert_eq!(
        h.fake.live(),
        [row.access_key.as_str()],
        "nothing else is live"
    );
    let detail = one_event(&h, "credential.create", OWNER, &h.target(&row)).await;
    assert!(detail.contains(&row.access_key), "{detail}");
    one_event(&h, "credential.reconcile", RECONCILER, &h.target(&row)).await;
}

#[tokio::test]
async fn creating_with_chosen_key_not_live_drops_row_and_spares_keys_made_elsewhere() {
    let h = Harness::new(Choice::Keyport).await;
    let row = h.creating(Outcome::UncertainBefore).await;
    h.fake.plant(&row.backend_user, "MADEOUTSIDE", "theirs");
    assert_eq!(h.fake.live(), ["MADEOUTSIDE"]);

    h.finish(&row).await.expect("undone");

    assert!(h.row(&row.id).await.is_none(), "the row is dropped");
    assert_eq!(
        h.fake.live(),
        ["MADEOUTSIDE"],
        "a key Keyport did not make stays"
    );
    assert_eq!(h.fake.count(Method::Revoke), 0);
    assert!(h.audited("credential.create").await.is_empty());
    undone_event(&h, &h.target(&row)).await;
}

#[tokio::test]
async fn creating_with_backend_key_issued_revokes_it_drops_row_and_keeps_known_keys() {
    let h = Harness::new(Choice::Backend).await;
    let kept = h.added("kept").await;
    let row = h.creating(Outcome::UncertainAfter).await;
    assert_eq!(row.access_key, "", "the backend had not told the key");
    let live = h.fake.live();
    assert_eq!(live.len(), 2, "the interrupted add made a key: {live:?}");
    let stray = live.into_iter().find(|k| *k != kept.access_key).unwrap();

    h.finish(&row).await.expect("undone");

    assert!(h.row(&row.id).await.is_none(), "the row is dropped");
    assert_eq!(
        h.fake.live(),
        [kept.access_key.as_str()],
        "the stray key is revoked"
    );
    assert!(h.works(&kept).await, "the other credential still works");
    let created = h.audited("credential.create").await;
    assert_eq!(
        created.len(),
        1,
        "only the kept credential was created: {created:?}"
    );
    let detail = undone_event(&h, &h.target(&row)).await;
    assert!(
        detail.contains(&stray),
        "the revoked key is named: {detail}"
    );
}

#[tokio::test]
async fn creating_with_backend_key_not_issued_drops_row_revoking_nothing() {
    let h = Harness::new(Choice::Backend).await;
    let row = h.creating(Outcome::UncertainBefore).await;
    assert!(h.fake.live().is_empty());

    h.finish(&row).await.expect("undone");

    assert!(h.row(&row.id).await.is_none(), "the row is dropped");
    assert_eq!(h.fake.count(Method::Revoke), 0);
    assert!(h.audited("credential.create").await.is_empty());
    undone_event(&h, &h.target(&row)).await;
}

#[tokio::test]
async fn rotating_with_chosen_key_live_puts_it_in_place_revokes_old_and_audits_regenerate_by_requester()
 {
    let h = Harness::new(Choice::Keyport).await;
    let (row, old) = h.rotating(Outcome::UncertainAfter).await;
    let new = row.pending_access_key.clone();
    assert!(
        !new.is_empty() && new != old,
        "the row holds the chosen key"
    );
    assert_eq!(row.access_key, old);
    assert_eq!(h.fake.live().len(), 2, "both keys are live");

    h.finish(&row).await.expect("finished");

    let after = h.row(&row.id).await.unwrap();
    assert_eq!(after.state, CredentialState::Active);
    assert_eq!(after.access_key, new);
    assert_eq!(
        (
            after.pending_access_key.as_str(),
            after.pending_secret.is_none()
        ),
        ("", true)
    );
    assert!(after.rotated_at.is_some());
    assert!(h.works(&after).await, "the new key works");
    assert_eq!(h.fake.live(), [new.as_str()], "the old key is revoked");
    let detail = one_event(&h, "credential.regenerate", OWNER, &h.target(&row)).await;
    assert!(
        detail.contains(&format!("{new} replaced {old}")),
        "{detail}"
    );
    one_event(&h, "credential.reconcile", RECONCILER, &h.target(&row)).await;
}

#[tokio::test]
async fn rotating_with_chosen_key_not_live_keeps_old_key_and_audits_undo() {
    let h = Harness::new(Choice::Keyport).await;
    let (row, old) = h.rotating(Outcome::UncertainBefore).await;
    assert!(!row.pending_access_key.is_empty());

    h.finish(&row).await.expect("undone");

    let after = h.row(&row.id).await.unwrap();
    assert_eq!(after.state, CredentialState::Active);
    assert_eq!(after.access_key, old);
    assert_eq!(
        (
            after.pending_access_key.as_str(),
            after.requested_by.as_str()
        ),
        ("", "")
    );
    assert!(h.works(&after).await, "the old key still works");
    assert_eq!(h.fake.live(), [old]);
    assert!(h.audited("credential.regenerate").await.is_empty());
    undone_event(&h, &h.target(&row)).await;
}

#[tokio::test]
async fn rotating_with_backend_key_issued_revokes_new_key_and_keeps_old() {
    let h = Harness::new(Choice::Backend).await;
    let (row, old) = h.rotating(Outcome::UncertainAfter).await;
    assert_eq!(row.pending_access_key, "");
    let live = h.fake.live();
    let stray = live
        .iter()
        .find(|k| **k != old)
        .expect("the new key was made")
        .clone();

    h.finish(&row).await.expect("undone");

    let after = h.row(&row.id).await.unwrap();
    assert_eq!(after.state, CredentialState::Active);
    assert_eq!(after.access_key, old);
    assert!(h.works(&after).await, "the old key still works");
    assert_eq!(h.fake.live(), [old], "the new key is revoked");
    assert!(h.audited("credential.regenerate").await.is_empty());
    let detail = undone_event(&h, &h.target(&row)).await;
    assert!(detail.contains(&stray), "{detail}");
}

#[tokio::test]
async fn rotating_with_backend_key_not_issued_keeps_old_key_revoking_nothing() {
    let h = Harness::new(Choice::Backend).await;
    let (row, old) = h.rotating(Outcome::UncertainBefore).await;
    h.fake.forget_calls();

    h.finish(&row).await.expect("undone");

    let after = h.row(&row.id).await.unwrap();
    assert_eq!(
        (after.state, after.access_key.as_str()),
        (CredentialState::Active, old.as_str())
    );
    assert!(h.works(&after).await);
    assert_eq!(h.fake.count(Method::Revoke), 0);
    undone_event(&h, &h.target(&row)).await;
}

#[tokio::test]
async fn retiring_revokes_old_key_and_activates_without_auditing_regenerate_again() {
    for choice in BOTH {
        let h = Harness::new(choice).await;
        let (row, old) = h.retiring(Outcome::Unreachable).await;
        assert_eq!(
            row.pending_access_key, old,
            "{choice:?}: the old key is still to revoke"
        );
        assert_eq!(h.fake.live().len(), 2, "{choice:?}: both keys are live");
        assert_eq!(h.audited("credential.regenerate").await.len(), 1);

        h.finish(&row).await.expect("finished");

        let after = h.row(&row.id).await.unwrap();
        assert_eq!(after.state, CredentialState::Active, "{choice:?}");
        assert_eq!(after.access_key, row.access_key);
        assert_eq!(after.pending_access_key, "");
        assert!(h.works(&after).await, "{choice:?}: the new key works");
        assert_eq!(
            h.fake.live(),
            [row.access_key.as_str()],
            "{choice:?}: old key revoked"
        );
        let regenerated = h.audited("credential.regenerate").await;
        assert_eq!(
            regenerated.len(),
            1,
            "{choice:?}: audited once: {regenerated:?}"
        );
        assert_eq!(regenerated[0].0, OWNER);
        let detail = one_event(&h, "credential.reconcile", RECONCILER, &h.target(&row)).await;
        assert!(detail.contains(&old), "{detail}");
    }
}

#[tokio::test]
async fn retiring_whose_old_key_is_already_gone_becomes_active() {
    let h = Harness::new(Choice::Keyport).await;
    let (row, old) = h.retiring(Outcome::UncertainAfter).await;
    assert_eq!(h.fake.live(), [row.access_key.as_str()], "the revoke acted");

    h.finish(&row).await.expect("finished");

    let after = h.row(&row.id).await.unwrap();
    assert_eq!(after.state, CredentialState::Active);
    assert!(h.works(&after).await);
    assert!(!h.fake.live().contains(&old));
    assert_eq!(h.audited("credential.regenerate").await.len(), 1);
}

#[tokio::test]
async fn deleting_revokes_the_key_drops_row_and_audits_delete_by_requester() {
    for (choice, outcome) in [
        (Choice::Keyport, Outcome::UncertainBefore),
        (Choice::Backend, Outcome::UncertainBefore),
        (Choice::Keyport, Outcome::UncertainAfter),
        (Choice::Backend, Outcome::UncertainAfter),
    ] {
        let h = Harness::new(choice).await;
        let row = h.deleting(outcome).await;
        let still_live = outcome == Outcome::UncertainBefore;
        assert_eq!(
            h.fake.live().contains(&row.access_key),
            still_live,
            "{choice:?} {outcome:?}"
        );
        assert!(h.audited("credential.delete").await.is_empty());

        h.finish(&row).await.expect("finished");

        assert!(
            h.row(&row.id).await.is_none(),
            "{choice:?} {outcome:?}: the row is gone"
        );
        assert!(
            h.fake.live().is_empty(),
            "{choice:?} {outcome:?}: the key is revoked"
        );
        let detail = one_event(&h, "credential.delete", OWNER, &h.target(&row)).await;
        assert!(detail.contains(&row.access_key), "{detail}");
        one_event(&h, "credential.reconcile", RECONCILER, &h.target(&row)).await;
    }
}

#[tokio::test]
async fn active_row_is_left_alone_without_backend_call_or_audit() {
    let h = Harness::new(Choice::Backend).await;
    let row = h.added("fine").await;
    let audit = h.audit().await;
    h.fake.forget_calls();

    assert_eq!(
        h.finish(&row).await.expect("nothing to do"),
        "nothing to do"
    );

    assert!(h.fake.backend_calls().is_empty(), "{:?}", h.fake.calls());
    assert_eq!(h.audit().await, audit);
    assert!(h.works(&h.row(&row.id).await.unwrap()).await);
}
