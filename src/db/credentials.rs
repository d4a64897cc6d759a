//! Credentials: the public part in clear, the secret sealed under the project's data key.

use sqlx::FromRow;

use super::{Db, audit, now};
use crate::domain::services::{CredentialKind, CredentialState};

/// Who holds a credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    User(String),
    App(String),
}

impl Owner {
    fn columns(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Owner::User(id) => (Some(id), None),
            Owner::App(id) => (None, Some(id)),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Credential {
    pub id: String,
    pub project_id: String,
    pub service_id: String,
    pub owner: Owner,
    /// The owner's name as shown: a member's name, or an app's.
    pub owner_name: String,
    pub kind: CredentialKind,
    pub name: String,
    pub description: String,
    pub access_key: String,
    pub secret: Vec<u8>,
    pub enabled: bool,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub created_by: String,
    pub rotated_at: Option<i64>,
    /// `Active`, or the step a backend operation stopped at (see `ops::lifecycle`).
    pub state: CredentialState,
    pub state_since: Option<i64>,
    pub pending_access_key: String,
    pub pending_secret: Option<Vec<u8>>,
    /// The owner's user at the backend (Keystone user id, IAM user name); empty for `stored`.
    pub backend_user: String,
    /// Who asked for the unfinished operation (an audit actor as JSON); empty when active.
    pub requested_by: String,
    /// The process carrying out the unfinished operation, if one is under way.
    pub claimed_by: String,
}

#[derive(FromRow)]
struct Row {
    id: String,
    project_id: String,
    service_id: String,
    owner_user_id: Option<String>,
    owner_app_id: Option<String>,
    owner_name: Option<String>,
    kind: String,
    name: String,
    description: String,
    access_key: String,
    secret: Vec<u8>,
    enabled: i64,
    expires_at: Option<i64>,
    created_at: i64,
    created_by: String,
    rotated_at: Option<i64>,
    state: String,
    state_since: Option<i64>,
    pending_access_key: String,
    pending_secret: Option<Vec<u8>>,
    backend_user: String,
    requested_by: String,
    claimed_by: String,
}

impl TryFrom<Row> for Credential {
    type Error = sqlx::Error;

    fn try_from(row: Row) -> sqlx::Result<Self> {
        let id = row.id.clone();
        let unknown = |column: &str, value: &str| {
            sqlx::Error::Decode(format!("credential {id}: unknown {column} {value:?}").into())
        };
        let owner = match (row.owner_user_id, row.owner_app_id) {
            (Some(user), _) => Owner::User(user),
            (None, Some(app)) => Owner::App(app),
            (None, None) => Owner::App(String::new()),
        };
        Ok(Credential {
            id: row.id,
            project_id: row.project_id,
            service_id: row.service_id,
            owner,
            owner_name: row.owner_name.unwrap_or_default(),
            kind: CredentialKind::parse(&row.kind).ok_or_else(|| unknown("kind", &row.kind))?,
            name: row.name,
            description: row.description,
            access_key: row.access_key,
            secret: row.secret,
            enabled: row.enabled != 0,
            expires_at: row.expires_at,
            created_at: row.created_at,
            created_by: row.created_by,
            rotated_at: row.rotated_at,
            state: CredentialState::parse(&row.state)
                .ok_or_else(|| unknown("state", &row.state))?,
            state_since: row.state_since,
            pending_access_key: row.pending_access_key,
            pending_secret: row.pending_secret,
            backend_user: row.backend_user,
            requested_by: row.requested_by,
            claimed_by: row.claimed_by,
        })
    }
}

fn decode(rows: Vec<Row>) -> sqlx::Result<Vec<Credential>> {
    rows.into_iter().map(Credential::try_from).collect()
}

// The owner's name is looked up per row by primary key: a join let PostgreSQL, before it had
// statistics, hash the whole apps table for every page (20 ms at 25,000 apps instead of 1 ms).
const SELECT: &str = "select c.id, c.project_id, c.service_id, c.owner_user_id, c.owner_app_id,
        coalesce((select name from users where id = c.owner_user_id), (select name from apps where id = c.owner_app_id)) as owner_name,
        c.kind, c.name, c.description, c.access_key, c.secret, c.enabled, c.expires_at, c.created_at, c.created_by, c.rotated_at,
        c.state, c.state_since, c.pending_access_key, c.pending_secret, c.backend_user, c.requested_by,
        c.claimed_by
    from credentials c";

/// The credentials of a service, by owner and age; not those being created or deleted, whose
/// keys may not work.
pub async fn list_for_service(db: &Db, service_id: &str) -> sqlx::Result<Vec<Credential>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} where c.service_id = $1 and c.state not in ('creating', 'deleting')
         order by owner_name, c.created_at, c.id"
    ))
    .bind(service_id)
    .fetch_all(db.pool())
    .await?;
    decode(rows)
}

pub async fn find(db: &Db, project_id: &str, id: &str) -> sqlx::Result<Option<Credential>> {
    let row: Option<Row> =
        sqlx::query_as(&format!("{SELECT} where c.project_id = $1 and c.id = $2"))
            .bind(project_id)
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    row.map(Credential::try_from).transpose()
}

pub struct NewCredential<'a> {
    /// Chosen by the caller: the sealed secret is bound to it.
    pub id: &'a str,
    pub project_id: &'a str,
    pub service_id: &'a str,
    pub owner: &'a Owner,
    pub kind: CredentialKind,
    pub name: &'a str,
    pub description: &'a str,
    pub access_key: &'a str,
    pub secret: &'a [u8],
    pub expires_at: Option<i64>,
    pub created_by: &'a str,
    /// `Creating` while the backend has not answered yet, or `Active`.
    pub state: CredentialState,
    pub backend_user: &'a str,
    /// Who asked, while `Creating` (an audit actor as JSON).
    pub requested_by: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the owner already holds the most credentials the service allows ({0})")]
    LimitReached(i64),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// How many credentials an owner holds for a service.
pub async fn count_for_owner(db: &Db, service_id: &str, owner: &Owner) -> sqlx::Result<i64> {
    let (user, app) = owner.columns();
    sqlx::query_scalar(
        "select count(*) from credentials where service_id = $1 and (owner_user_id = $2 or owner_app_id = $3)",
    )
    .bind(service_id)
    .bind(user)
    .bind(app)
    .fetch_one(db.pool())
    .await
}

/// Inserts a credential unless its owner already holds `limit` for the service. The check and
/// the insert run under the project's lock, so two concurrent adds cannot both pass. `record`,
/// if any, is written with it.
pub async fn create(
    db: &Db,
    new: NewCredential<'_>,
    limit: i64,
    record: Option<&audit::Entry<'_>>,
) -> Result<(), CredentialError> {
    let mut tx = db.pool().begin().await?;
    super::projects::lock(&mut tx, new.project_id).await?;
    let (user, app) = new.owner.columns();
    let held: i64 = sqlx::query_scalar(
        "select count(*) from credentials where service_id = $1 and (owner_user_id = $2 or owner_app_id = $3)",
    )
    .bind(new.service_id)
    .bind(user)
    .bind(app)
    .fetch_one(&mut *tx)
    .await?;
    if held >= limit {
        return Err(CredentialError::LimitReached(limit));
    }
    sqlx::query(
        "insert into credentials (id, project_id, service_id, owner_user_id, owner_app_id, kind, name, description,
             access_key, secret, enabled, expires_at, created_at, created_by, state, state_since, backend_user,
             requested_by, claimed_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $12, $13, $14, $12, $15, $16, $17)",
    )
    .bind(new.id)
    .bind(new.project_id)
    .bind(new.service_id)
    .bind(user)
    .bind(app)
    .bind(new.kind.as_str())
    .bind(new.name)
    .bind(new.description)
    .bind(new.access_key)
    .bind(new.secret)
    .bind(new.expires_at)
    .bind(now())
    .bind(new.created_by)
    .bind(new.state.as_str())
    .bind(new.backend_user)
    .bind(new.requested_by)
    .bind(if new.state.is_active() { "" } else { db.instance() })
    .execute(&mut *tx)
    .await?;
    if let Some(record) = record {
        audit::insert(&mut *tx, record).await?;
    }
    tx.commit().await?;
    Ok(())
}

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
async fn commit_with(
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

/// Every credential of a service, whatever its state.
pub async fn all_for_service(db: &Db, service_id: &str) -> sqlx::Result<Vec<Credential>> {
    let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} where c.service_id = $1 order by c.id"))
        .bind(service_id)
        .fetch_all(db.pool())
        .await?;
    decode(rows)
}

pub async fn update_details(
    db: &Db,
    id: &str,
    name: &str,
    description: &str,
    enabled: bool,
    expires_at: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query("update credentials set name = $1, description = $2, enabled = $3, expires_at = $4 where id = $5")
        .bind(name)
        .bind(description)
        .bind(i64::from(enabled))
        .bind(expires_at)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn delete(db: &Db, id: &str) -> sqlx::Result<bool> {
    let deleted = sqlx::query("delete from credentials where id = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(deleted.rows_affected() == 1)
}

/// Deletes a credential and writes `record` with it, or neither.
pub async fn delete_recorded(db: &Db, id: &str, record: &audit::Entry<'_>) -> sqlx::Result<bool> {
    let mut tx = db.pool().begin().await?;
    let deleted = sqlx::query("delete from credentials where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    commit_with(tx, deleted.rows_affected() == 1, record).await
}
