//! The steps of a credential's operation at its backend (intent, outcome), and what reconcile
//! finds unfinished: each step a compare-and-set on the row's state, with its audit record in the
//! same transaction.

use super::{Credential, Row, SELECT, decode};
use crate::{
    db::{Db, audit, now},
    domain::services::CredentialState,
};

/// The backend issued the key of a credential being created: it is in use from now on. `record`
/// is written with it, or not at all.
pub async fn activate(
    db: &Db,
    id: &str,
    access_key: &str,
    secret: &[u8],
    record: &audit::Entry<'_>,
) -> sqlx::Result<bool> {
    let mut tx = db.pool().begin().await?;
    let updated = sqlx::query(
        "update credentials set access_key = $1, secret = $2, state = 'active', state_since = $3,
             requested_by = '', claimed_by = ''
         where id = $4 and state = 'creating'",
    )
    .bind(access_key)
    .bind(secret)
    .bind(now())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    commit_with(tx, updated.rows_affected() == 1, record).await
}

/// Commits the change of one row together with its audit record; rolls back if no row changed.
pub(super) async fn commit_with(
    mut tx: sqlx::Transaction<'_, sqlx::Any>,
    changed: bool,
    record: &audit::Entry<'_>,
) -> sqlx::Result<bool> {
    if !changed {
        return Ok(false);
    }
    audit::insert(&mut *tx, record).await?;
    tx.commit().await?;
    Ok(true)
}

/// Moves a credential to `state` (`Rotating`, `Deleting`, back to `Active`), with the new key
/// Keyport chose, if any, sealed in `pending_secret`, and who asked. Only from `Active`, or back
/// to it: two operations never overlap on one credential.
pub async fn set_state(
    db: &Db,
    id: &str,
    state: CredentialState,
    pending: Option<(&str, &[u8])>,
    requested_by: &str,
) -> sqlx::Result<bool> {
    let (pending_access_key, pending_secret) = match pending {
        Some((access_key, secret)) => (access_key, Some(secret)),
        None => ("", None),
    };
    let from = if state.is_active() {
        "state <> 'active'"
    } else {
        "state = 'active'"
    };
    let updated = sqlx::query(&format!(
        "update credentials set state = $1, state_since = $2, pending_access_key = $3, pending_secret = $4,
             requested_by = $5, claimed_by = $7
         where id = $6 and {from}"
    ))
    .bind(state.as_str())
    .bind(now())
    .bind(pending_access_key)
    .bind(pending_secret)
    .bind(if state.is_active() { "" } else { requested_by })
    .bind(id)
    .bind(if state.is_active() { "" } else { db.instance() })
    .execute(db.pool())
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// The new key of a rotation is in place; the old one (`retiring`) is still to be revoked.
/// `record` (the regeneration) is written with it, or not at all.
pub async fn rotated(
    db: &Db,
    id: &str,
    access_key: &str,
    secret: &[u8],
    old_access_key: &str,
    record: &audit::Entry<'_>,
) -> sqlx::Result<bool> {
    let mut tx = db.pool().begin().await?;
    let updated = sqlx::query(
        "update credentials set access_key = $1, secret = $2, pending_access_key = $3,
             pending_secret = null, state = 'retiring', state_since = $4, rotated_at = $4
         where id = $5 and state = 'rotating'",
    )
    .bind(access_key)
    .bind(secret)
    .bind(old_access_key)
    .bind(now())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    commit_with(tx, updated.rows_affected() == 1, record).await
}

/// Credentials whose backend operation was interrupted: not `active` since before `cutoff`, or
/// left by a process silent since `silent_since`.
pub async fn interrupted(db: &Db, cutoff: i64, silent_since: i64) -> sqlx::Result<Vec<Credential>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} where c.state <> 'active'
             and (coalesce(c.state_since, 0) <= $1
                  or (c.claimed_by <> $3
                      and c.claimed_by in (select id from instances where heartbeat_at <= $2)))
         order by c.id"
    ))
    .bind(cutoff)
    .bind(silent_since)
    .bind(db.instance())
    .fetch_all(db.pool())
    .await?;
    decode(rows)
}

/// Takes over the unfinished operation of `credential` for this process, unless another process
/// took it over first: of several processes that find it interrupted, one finishes it.
pub async fn claim(db: &Db, credential: &Credential) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "update credentials set claimed_by = $1
         where id = $2 and state = $3 and claimed_by = $4",
    )
    .bind(db.instance())
    .bind(&credential.id)
    .bind(credential.state.as_str())
    .bind(&credential.claimed_by)
    .execute(db.pool())
    .await?;
    Ok(updated.rows_affected() == 1)
}
