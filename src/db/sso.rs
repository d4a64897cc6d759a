//! Single sign-on: which provider account each user signed in with, its sealed refresh token,
//! and when the provider last vouched for it.

use sqlx::FromRow;

use super::{
    Db, now,
    projects::{has_owner, lock, role_of, write_role},
};
use crate::domain::roles::Role;

#[derive(Clone, Debug, FromRow)]
pub struct Identity {
    pub user_id: String,
    pub issuer: String,
    pub subject: String,
    pub sid: String,
    pub refresh_token: Option<Vec<u8>>,
    pub checked_at: i64,
    pub suspended: i64,
}

const COLUMNS: &str = "user_id, issuer, subject, sid, refresh_token, checked_at, suspended";

pub async fn find_by_subject(
    db: &Db,
    issuer: &str,
    subject: &str,
) -> sqlx::Result<Option<Identity>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from sso_identities where issuer = $1 and subject = $2"
    ))
    .bind(issuer)
    .bind(subject)
    .fetch_optional(db.pool())
    .await
}

pub async fn find_by_sid(db: &Db, issuer: &str, sid: &str) -> sqlx::Result<Option<Identity>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from sso_identities where issuer = $1 and sid = $2 and sid <> ''"
    ))
    .bind(issuer)
    .bind(sid)
    .fetch_optional(db.pool())
    .await
}

pub async fn find(db: &Db, user_id: &str) -> sqlx::Result<Option<Identity>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from sso_identities where user_id = $1"
    ))
    .bind(user_id)
    .fetch_optional(db.pool())
    .await
}

/// Records a sign-in: the account (linked now if it was not), its session at the provider and
/// its refresh token; the provider vouched for it just now.
pub async fn signed_in(
    db: &Db,
    user_id: &str,
    issuer: &str,
    subject: &str,
    sid: &str,
    refresh_token: Option<&[u8]>,
) -> sqlx::Result<()> {
    let mut tx = db.pool().begin().await?;
    sqlx::query("delete from sso_identities where user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "insert into sso_identities (user_id, issuer, subject, sid, refresh_token, checked_at, checking_until, suspended)
         values ($1, $2, $3, $4, $5, $6, 0, 0)",
    )
    .bind(user_id)
    .bind(issuer)
    .bind(subject)
    .bind(sid)
    .bind(refresh_token)
    .bind(now())
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// How long a check holds the account it took: longer than its requests to the provider can
/// take (discovery, the token endpoint and the keys, each with its timeout), so that no other
/// process uses the same refresh token meanwhile (a refresh token used twice may end the grant
/// at providers that rotate them, and the account would be refused for it).
pub const HOLD_SECONDS: i64 = 300;

/// The condition of an account a check may take: due (last checked before `$1`), held by no
/// process (`$2` is now), enabled (an account disabled by hand is not asked about, so that a
/// refusal never marks it as the provider's to enable again), with a refresh token to check it by.
const TAKEABLE: &str =
    "checked_at < $1 and checking_until < $2 and suspended = 0 and refresh_token is not null
     and user_id in (select id from users where disabled = 0)";

/// The ids of at most `limit` accounts due for a check (last checked before `before`), the
/// longest unchecked first. None is taken: [`take`] takes each just before it is checked.
pub async fn due(db: &Db, before: i64, limit: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(&format!(
        "select user_id from sso_identities where {TAKEABLE} order by checked_at limit $3"
    ))
    .bind(before)
    .bind(now())
    .bind(limit)
    .fetch_all(db.pool())
    .await
}

/// Takes `user_id`'s account for a check by this process, for [`HOLD_SECONDS`], if it is still
/// due and nobody holds it: the account as it is now and the lease (when the hold ends), which
/// the check's outcome presents ([`vouched`], [`renew`], [`release`]).
pub async fn take(db: &Db, user_id: &str, before: i64) -> sqlx::Result<Option<(Identity, i64)>> {
    let lease = now() + HOLD_SECONDS;
    let taken: Option<Identity> = sqlx::query_as(&format!(
        "update sso_identities set checking_until = $3 where user_id = $4 and {TAKEABLE}
         returning {COLUMNS}"
    ))
    .bind(before)
    .bind(now())
    .bind(lease)
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(taken.map(|identity| (identity, lease)))
}

/// The provider vouched for the account again; its new refresh token, if it gave one. Only
/// while this check holds the account (`lease`, as [`take`] gave it, and nobody took it since):
/// `false` when it does not, and nothing is changed.
pub async fn vouched(
    db: &Db,
    user_id: &str,
    lease: i64,
    refresh_token: Option<&[u8]>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update sso_identities set checked_at = $1, checking_until = 0,
         refresh_token = coalesce($2, refresh_token) where user_id = $3 and checking_until = $4",
    )
    .bind(now())
    .bind(refresh_token)
    .bind(user_id)
    .bind(lease)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Holds the account for [`HOLD_SECONDS`] more, if this check (`lease`) still holds it: the new
/// lease, or `None` when another process has taken it since.
pub async fn renew(db: &Db, user_id: &str, lease: i64) -> sqlx::Result<Option<i64>> {
    let renewed = (now() + HOLD_SECONDS).max(lease + 1);
    let done = sqlx::query(
        "update sso_identities set checking_until = $1 where user_id = $2 and checking_until = $3",
    )
    .bind(renewed)
    .bind(user_id)
    .bind(lease)
    .execute(db.pool())
    .await?;
    Ok((done.rows_affected() == 1).then_some(renewed))
}

/// The check could not be made (the provider did not answer): tried again at the next round.
/// Only the check holding the account (`lease`) lets it go.
pub async fn release(db: &Db, user_id: &str, lease: i64) -> sqlx::Result<()> {
    sqlx::query(
        "update sso_identities set checking_until = 0 where user_id = $1 and checking_until = $2",
    )
    .bind(user_id)
    .bind(lease)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Marks that Keyport disabled the user because the provider refused the account (`true`), or
/// that a sign-in at the provider proved it again (`false`).
pub async fn set_suspended(db: &Db, user_id: &str, suspended: bool) -> sqlx::Result<()> {
    sqlx::query(
        "update sso_identities set suspended = $1, checking_until = 0, refresh_token = case when $1 = 1 then null else refresh_token end where user_id = $2",
    )
    .bind(i64::from(suspended))
    .bind(user_id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The id of the project with `slug`.
pub async fn project_id(db: &Db, slug: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("select id from projects where slug = $1")
        .bind(slug)
        .fetch_optional(db.pool())
        .await
}

/// What a change of membership by the provider's groups did.
#[derive(Debug, PartialEq)]
pub enum MembershipChange {
    Unchanged,
    Added,
    Changed,
    Removed,
    /// Refused: the project would have no owner left.
    LastOwner,
}

/// Sets `user_id`'s role in the project (`None`: not a member), as the provider's groups say;
/// the project is never left without an owner.
pub async fn set_membership(
    db: &Db,
    project_id: &str,
    user_id: &str,
    role: Option<Role>,
) -> sqlx::Result<MembershipChange> {
    let mut tx = db.pool().begin().await?;
    lock(&mut tx, project_id).await?;
    let change = match (role_of(&mut tx, project_id, user_id).await?, role) {
        (None, None) => return Ok(MembershipChange::Unchanged),
        (Some(now_role), Some(role)) if now_role == role => {
            return Ok(MembershipChange::Unchanged);
        }
        (None, Some(role)) => {
            sqlx::query(
                "insert into memberships (project_id, user_id, role, created_at) values ($1, $2, $3, $4)",
            )
            .bind(project_id)
            .bind(user_id)
            .bind(role.as_str())
            .bind(now())
            .execute(&mut *tx)
            .await?;
            MembershipChange::Added
        }
        (Some(_), role) => {
            write_role(&mut tx, project_id, user_id, role).await?;
            match role {
                Some(_) => MembershipChange::Changed,
                None => MembershipChange::Removed,
            }
        }
    };
    if !has_owner(&mut tx, project_id).await? {
        return Ok(MembershipChange::LastOwner);
    }
    tx.commit().await?;
    Ok(change)
}
