//! Credentials: the public part in clear, the secret sealed under the project's data key.

use std::sync::Arc;

use sqlx::FromRow;

mod changes;

use changes::commit_with;
pub use changes::{activate, claim, interrupted, rotated, set_state};

use super::{Db, audit, now};
use crate::domain::services::{CredentialKind, CredentialState};

pub use crate::domain::credentials::{CredentialInfo, Owner};

impl Owner {
    /// The owner of a row's `owner_user_id` and `owner_app_id` (a CHECK keeps one of them set).
    pub(super) fn from_columns(user: Option<String>, app: Option<String>) -> Owner {
        match (user, app) {
            (Some(user), _) => Owner::User(user),
            (None, Some(app)) => Owner::App(app),
            (None, None) => Owner::App(String::new()),
        }
    }

    fn columns(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Owner::User(id) => (Some(id), None),
            Owner::App(id) => (None, Some(id)),
        }
    }
}

/// A credential's row: what may be shown of it (shared, see `ops::snapshots`), its sealed
/// secrets and its operation's bookkeeping. Fields of the shown part are read through it.
#[derive(Clone, Debug)]
pub struct Credential {
    pub info: Arc<CredentialInfo>,
    pub secret: Vec<u8>,
    pub pending_secret: Option<Vec<u8>>,
    /// Who asked for the unfinished operation (an audit actor as JSON); empty when active.
    pub requested_by: String,
    /// The process carrying out the unfinished operation, if one is under way.
    pub claimed_by: String,
}

impl std::ops::Deref for Credential {
    type Target = CredentialInfo;

    fn deref(&self) -> &CredentialInfo {
        &self.info
    }
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
        let owner = Owner::from_columns(row.owner_user_id, row.owner_app_id);
        let info = CredentialInfo {
            id: row.id,
            project_id: row.project_id,
            service_id: row.service_id,
            owner,
            owner_name: row.owner_name.unwrap_or_default(),
            kind: CredentialKind::parse(&row.kind).ok_or_else(|| unknown("kind", &row.kind))?,
            name: row.name,
            description: row.description,
            access_key: row.access_key,
            enabled: row.enabled != 0,
            expires_at: row.expires_at,
            created_at: row.created_at,
            created_by: row.created_by,
            rotated_at: row.rotated_at,
            state: CredentialState::parse(&row.state)
                .ok_or_else(|| unknown("state", &row.state))?,
            state_since: row.state_since,
            pending_access_key: row.pending_access_key,
            backend_user: row.backend_user,
        };
        Ok(Credential {
            info: Arc::new(info),
            secret: row.secret,
            pending_secret: row.pending_secret,
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
