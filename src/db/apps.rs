//! Apps: a project's service identities, which own app keys.

use sqlx::FromRow;

use super::{Db, new_id, now, unique_as};
use crate::domain::roles::Role;

#[derive(Clone, Debug, FromRow)]
pub struct App {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub created_at: i64,
    /// The role the app acts in, chosen by the admin who made it.
    #[sqlx(try_from = "String")]
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("an app with this name already exists in the project")]
    NameTaken,
    #[error("the app still owns credentials")]
    HasCredentials,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub async fn list(db: &Db, project_id: &str) -> sqlx::Result<Vec<App>> {
    sqlx::query_as("select id, project_id, name, description, created_at, role from apps where project_id = $1 order by name")
        .bind(project_id)
        .fetch_all(db.pool())
        .await
}

pub async fn find(db: &Db, project_id: &str, id: &str) -> sqlx::Result<Option<App>> {
    sqlx::query_as("select id, project_id, name, description, created_at, role from apps where project_id = $1 and id = $2")
        .bind(project_id)
        .bind(id)
        .fetch_optional(db.pool())
        .await
}

pub async fn create(
    db: &Db,
    project_id: &str,
    name: &str,
    description: &str,
    role: Role,
) -> Result<String, AppError> {
    let id = new_id();
    sqlx::query("insert into apps (id, project_id, name, description, created_at, role) values ($1, $2, $3, $4, $5, $6)")
        .bind(&id)
        .bind(project_id)
        .bind(name)
        .bind(description)
        .bind(now())
        .bind(role.as_str())
        .execute(db.pool())
        .await
        .map_err(|e| unique_as(e, AppError::NameTaken))?;
    Ok(id)
}

/// Deletes an app; refused while it owns credentials.
pub async fn delete(db: &Db, project_id: &str, id: &str) -> Result<bool, AppError> {
    let mut tx = db.pool().begin().await?;
    super::projects::lock(&mut tx, project_id).await?;
    // Counted before deleting: credentials would go with the app (on delete cascade).
    let keys: i64 = sqlx::query_scalar("select count(*) from credentials where owner_app_id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    if keys > 0 {
        return Err(AppError::HasCredentials);
    }
    let deleted = sqlx::query("delete from apps where project_id = $1 and id = $2")
        .bind(project_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(deleted.rows_affected() == 1)
}
