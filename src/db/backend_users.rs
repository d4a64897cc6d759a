//! Who each owner of a project is at a service's backend: a Keystone user, an IAM user.

use sqlx::FromRow;

use super::{Db, credentials::Owner, new_id, now};

#[derive(Clone, Debug, FromRow)]
pub struct BackendUserLink {
    pub owner_user_id: Option<String>,
    pub owner_app_id: Option<String>,
    /// The owner's name in Keyport: a member's name, or an app's.
    pub owner_name: Option<String>,
    pub backend_id: String,
    pub backend_name: String,
    pub created_by_keyport: i64,
}

impl BackendUserLink {
    pub fn owner(&self) -> Owner {
        match (&self.owner_user_id, &self.owner_app_id) {
            (Some(user), _) => Owner::User(user.clone()),
            (None, app) => Owner::App(app.clone().unwrap_or_default()),
        }
    }
}

const SELECT: &str = "select b.owner_user_id, b.owner_app_id,
        coalesce((select name from users where id = b.owner_user_id), (select name from apps where id = b.owner_app_id)) as owner_name,
        b.backend_id, b.backend_name, b.created_by_keyport
    from backend_users b";

fn columns(owner: &Owner) -> (Option<&str>, Option<&str>) {
    match owner {
        Owner::User(id) => (Some(id), None),
        Owner::App(id) => (None, Some(id)),
    }
}

pub async fn find(
    db: &Db,
    service_id: &str,
    owner: &Owner,
) -> sqlx::Result<Option<BackendUserLink>> {
    let (user, app) = columns(owner);
    sqlx::query_as(&format!(
        "{SELECT} where b.service_id = $1 and (b.owner_user_id = $2 or b.owner_app_id = $3)"
    ))
    .bind(service_id)
    .bind(user)
    .bind(app)
    .fetch_optional(db.pool())
    .await
}

pub async fn find_by_backend_id(
    db: &Db,
    service_id: &str,
    backend_id: &str,
) -> sqlx::Result<Option<BackendUserLink>> {
    sqlx::query_as(&format!(
        "{SELECT} where b.service_id = $1 and b.backend_id = $2"
    ))
    .bind(service_id)
    .bind(backend_id)
    .fetch_optional(db.pool())
    .await
}

pub async fn list(db: &Db, service_id: &str) -> sqlx::Result<Vec<BackendUserLink>> {
    sqlx::query_as(&format!(
        "{SELECT} where b.service_id = $1 order by b.backend_name"
    ))
    .bind(service_id)
    .fetch_all(db.pool())
    .await
}

/// Records the owner's backend user; `false` if the owner already has one (a concurrent add).
pub async fn insert(
    db: &Db,
    service_id: &str,
    owner: &Owner,
    backend_id: &str,
    backend_name: &str,
    created_by_keyport: bool,
) -> sqlx::Result<bool> {
    let (user, app) = columns(owner);
    let inserted = sqlx::query(
        "insert into backend_users (id, service_id, owner_user_id, owner_app_id, backend_id, backend_name,
             created_by_keyport, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict do nothing",
    )
    .bind(new_id())
    .bind(service_id)
    .bind(user)
    .bind(app)
    .bind(backend_id)
    .bind(backend_name)
    .bind(i64::from(created_by_keyport))
    .bind(now())
    .execute(db.pool())
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Forgets an owner's backend user (the user itself stays at the backend).
pub async fn unlink(db: &Db, service_id: &str, owner: &Owner) -> sqlx::Result<bool> {
    let (user, app) = columns(owner);
    let deleted = sqlx::query(
        "delete from backend_users where service_id = $1 and (owner_user_id = $2 or owner_app_id = $3)",
    )
    .bind(service_id)
    .bind(user)
    .bind(app)
    .execute(db.pool())
    .await?;
    Ok(deleted.rows_affected() == 1)
}

/// Whether `backend_id` is the backend user of another owner, or of another service.
pub async fn held_elsewhere(
    db: &Db,
    service_id: &str,
    owner: &Owner,
    backend_id: &str,
) -> sqlx::Result<bool> {
    let (user, app) = columns(owner);
    let count: i64 = sqlx::query_scalar(
        "select count(*) from backend_users where backend_id = $1
         and not (service_id = $2 and (owner_user_id = $3 or owner_app_id = $4))",
    )
    .bind(backend_id)
    .bind(service_id)
    .bind(user)
    .bind(app)
    .fetch_one(db.pool())
    .await?;
    Ok(count > 0)
}
