//! Keyport's own API keys: only a hash of each key is kept, with its name, its holder (a member,
//! or an app of a project) and when and from where it was last used.

use sqlx::FromRow;

use super::{Db, now};

/// Who holds an API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    User(String),
    App { app_id: String, project_id: String },
}

#[derive(Clone, Debug)]
pub struct ApiKey {
    pub id: String,
    /// The key's first characters, shown to tell keys apart.
    pub prefix: String,
    pub holder: Holder,
    pub name: String,
    pub description: String,
    pub created_at: i64,
    pub created_by: String,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub last_used_ip: String,
    pub enabled: bool,
    /// Moves on with every disable and enable of the key or its user: access tokens issued at
    /// another generation are refused.
    pub generation: i64,
}

impl ApiKey {
    /// Whether the key may be exchanged now: enabled and not expired.
    pub fn usable(&self, at: i64) -> bool {
        self.enabled && self.expires_at.is_none_or(|expires| expires > at)
    }
}

/// An API key's row (also read by `key_holders`, beside its holder).
#[derive(FromRow)]
pub(super) struct Row {
    id: String,
    prefix: String,
    user_id: Option<String>,
    app_id: Option<String>,
    project_id: Option<String>,
    name: String,
    description: String,
    created_at: i64,
    created_by: String,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    last_used_ip: String,
    enabled: i64,
    generation: i64,
}

impl From<Row> for ApiKey {
    fn from(row: Row) -> Self {
        let holder = match (row.user_id, row.app_id, row.project_id) {
            (Some(user), _, _) => Holder::User(user),
            (None, app, project) => Holder::App {
                app_id: app.unwrap_or_default(),
                project_id: project.unwrap_or_default(),
            },
        };
        ApiKey {
            id: row.id,
            prefix: row.prefix,
            holder,
            name: row.name,
            description: row.description,
            created_at: row.created_at,
            created_by: row.created_by,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            last_used_ip: row.last_used_ip,
            enabled: row.enabled != 0,
            generation: row.generation,
        }
    }
}

const SELECT: &str =
    "select id, prefix, user_id, app_id, project_id, name, description, created_at,
        created_by, expires_at, last_used_at, last_used_ip, enabled, generation from api_keys";

pub struct NewApiKey<'a> {
    pub id: &'a str,
    pub prefix: &'a str,
    pub key_hash: &'a str,
    pub holder: &'a Holder,
    pub name: &'a str,
    pub description: &'a str,
    pub expires_at: Option<i64>,
    pub created_by: &'a str,
}

pub async fn create(db: &Db, new: NewApiKey<'_>) -> sqlx::Result<()> {
    let (user, app, project) = match new.holder {
        Holder::User(id) => (Some(id.as_str()), None, None),
        Holder::App { app_id, project_id } => {
            (None, Some(app_id.as_str()), Some(project_id.as_str()))
        }
    };
    sqlx::query(
        "insert into api_keys (id, prefix, key_hash, user_id, app_id, project_id, name, description,
             created_at, created_by, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(new.id)
    .bind(new.prefix)
    .bind(new.key_hash)
    .bind(user)
    .bind(app)
    .bind(project)
    .bind(new.name)
    .bind(new.description)
    .bind(now())
    .bind(new.created_by)
    .bind(new.expires_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

pub async fn find(db: &Db, id: &str) -> sqlx::Result<Option<ApiKey>> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} where id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(ApiKey::from))
}

/// The keys of a holder, newest first.
pub async fn list(db: &Db, holder: &Holder) -> sqlx::Result<Vec<ApiKey>> {
    let (column, id) = match holder {
        Holder::User(id) => ("user_id", id),
        Holder::App { app_id, .. } => ("app_id", app_id),
    };
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} where {column} = $1 order by created_at desc, id"
    ))
    .bind(id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(ApiKey::from).collect())
}

pub async fn set_enabled(db: &Db, id: &str, enabled: bool) -> sqlx::Result<bool> {
    let updated =
        sqlx::query("update api_keys set enabled = $1, generation = generation + 1 where id = $2")
            .bind(i64::from(enabled))
            .bind(id)
            .execute(db.pool())
            .await?;
    Ok(updated.rows_affected() == 1)
}

pub async fn delete(db: &Db, id: &str) -> sqlx::Result<bool> {
    let deleted = sqlx::query("delete from api_keys where id = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(deleted.rows_affected() == 1)
}

/// Records a use of the key; written at most once a minute per key, so that a busy program does
/// not turn every exchange into a write.
pub async fn used(db: &Db, id: &str, ip: &str) -> sqlx::Result<()> {
    let at = now();
    sqlx::query(
        "update api_keys set last_used_at = $1, last_used_ip = $2
         where id = $3 and (last_used_at is null or last_used_at < $4 or last_used_ip <> $2)",
    )
    .bind(at)
    .bind(ip)
    .bind(id)
    .bind(at - 60)
    .execute(db.pool())
    .await?;
    Ok(())
}
