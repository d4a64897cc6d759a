//! Credentials: the public part in clear, the secret sealed under the project's data key.

use sqlx::FromRow;

use super::{Db, now};
use crate::domain::services::CredentialKind;

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
}

impl From<Row> for Credential {
    fn from(row: Row) -> Self {
        let owner = match (row.owner_user_id, row.owner_app_id) {
            (Some(user), _) => Owner::User(user),
            (None, Some(app)) => Owner::App(app),
            (None, None) => Owner::App(String::new()),
        };
        Credential {
            id: row.id,
            project_id: row.project_id,
            service_id: row.service_id,
            owner,
            owner_name: row.owner_name.unwrap_or_default(),
            kind: CredentialKind::parse(&row.kind).unwrap_or(CredentialKind::Key),
            name: row.name,
            description: row.description,
            access_key: row.access_key,
            secret: row.secret,
            enabled: row.enabled != 0,
            expires_at: row.expires_at,
            created_at: row.created_at,
            created_by: row.created_by,
            rotated_at: row.rotated_at,
        }
    }
}

// The owner's name is looked up per row by primary key: a join let PostgreSQL, before it had
// statistics, hash the whole apps table for every page (20 ms at 25,000 apps instead of 1 ms).
const SELECT: &str = "select c.id, c.project_id, c.service_id, c.owner_user_id, c.owner_app_id,
        coalesce((select name from users where id = c.owner_user_id), (select name from apps where id = c.owner_app_id)) as owner_name,
        c.kind, c.name, c.description, c.access_key, c.secret, c.enabled, c.expires_at, c.created_at, c.created_by, c.rotated_at
    from credentials c";

/// The credentials of a service, by owner and age.
pub async fn list_for_service(db: &Db, service_id: &str) -> sqlx::Result<Vec<Credential>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} where c.service_id = $1 order by owner_name, c.created_at, c.id"
    ))
    .bind(service_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(Credential::from).collect())
}

pub async fn find(db: &Db, project_id: &str, id: &str) -> sqlx::Result<Option<Credential>> {
    let row: Option<Row> =
        sqlx::query_as(&format!("{SELECT} where c.project_id = $1 and c.id = $2"))
            .bind(project_id)
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(Credential::from))
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
/// the insert run under the project's lock, so two concurrent adds cannot both pass.
pub async fn create(db: &Db, new: NewCredential<'_>, limit: i64) -> Result<(), CredentialError> {
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
             access_key, secret, enabled, expires_at, created_at, created_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $12, $13)",
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
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Replaces the key of a credential after a regeneration.
pub async fn replace_key(db: &Db, id: &str, access_key: &str, secret: &[u8]) -> sqlx::Result<bool> {
    let updated = sqlx::query(
        "update credentials set access_key = $1, secret = $2, rotated_at = $3 where id = $4",
    )
    .bind(access_key)
    .bind(secret)
    .bind(now())
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(updated.rows_affected() == 1)
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
