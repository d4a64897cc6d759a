//! Users, their password hashes, and one-time set-password links.

use sqlx::{Any, Executor, FromRow};

use super::{Db, new_id, now, unique_as};

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub has_password: bool,
    pub session_epoch: i64,
    pub created_at: i64,
}

#[derive(FromRow)]
pub(super) struct UserRow {
    id: String,
    email: String,
    name: String,
    password_hash: Option<String>,
    is_admin: i64,
    disabled: i64,
    session_epoch: i64,
    created_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            email: row.email,
            name: row.name,
            is_admin: row.is_admin != 0,
            disabled: row.disabled != 0,
            has_password: row.password_hash.is_some(),
            session_epoch: row.session_epoch,
            created_at: row.created_at,
        }
    }
}

const COLUMNS: &str =
    "id, email, name, password_hash, is_admin, disabled, session_epoch, created_at";

/// The columns of a user, of the table named `u`.
pub(super) const COLUMNS_OF_U: &str =
    "u.id, u.email, u.name, u.password_hash, u.is_admin, u.disabled, u.session_epoch, u.created_at";

pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: Option<&'a str>,
    pub is_admin: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("a user with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub async fn create<'e>(
    db: impl Executor<'e, Database = Any>,
    new: NewUser<'_>,
) -> Result<User, CreateUserError> {
    let id = new_id();
    let created_at = now();
    sqlx::query(
        "insert into users (id, email, name, password_hash, is_admin, disabled, session_epoch, created_at)
         values ($1, $2, $3, $4, $5, 0, 0, $6)",
    )
    .bind(&id)
    .bind(new.email)
    .bind(new.name)
    .bind(new.password_hash)
    .bind(i64::from(new.is_admin))
    .bind(created_at)
    .execute(db)
    .await
    .map_err(|e| unique_as(e, CreateUserError::EmailTaken))?;
    Ok(User {
        id,
        email: new.email.to_string(),
        name: new.name.to_string(),
        is_admin: new.is_admin,
        disabled: false,
        has_password: new.password_hash.is_some(),
        session_epoch: 0,
        created_at,
    })
}

pub async fn count(db: &Db) -> sqlx::Result<i64> {
    sqlx::query_scalar("select count(*) from users")
        .fetch_one(db.pool())
        .await
}

pub async fn find(db: &Db, id: &str) -> sqlx::Result<Option<User>> {
    let row: Option<UserRow> =
        sqlx::query_as(&format!("select {COLUMNS} from users where id = $1"))
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(User::from))
}

pub async fn find_by_email(db: &Db, email: &str) -> sqlx::Result<Option<User>> {
    let row: Option<UserRow> =
        sqlx::query_as(&format!("select {COLUMNS} from users where email = $1"))
            .bind(email)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(User::from))
}

/// The user and their password hash, for signing in.
pub async fn find_for_login(db: &Db, email: &str) -> sqlx::Result<Option<(User, Option<String>)>> {
    let row: Option<UserRow> =
        sqlx::query_as(&format!("select {COLUMNS} from users where email = $1"))
            .bind(email)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|row| {
        let hash = row.password_hash.clone();
        (User::from(row), hash)
    }))
}

pub async fn password_hash(db: &Db, id: &str) -> sqlx::Result<Option<String>> {
    let hash: Option<Option<String>> =
        sqlx::query_scalar("select password_hash from users where id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    Ok(hash.flatten())
}

pub async fn list(db: &Db) -> sqlx::Result<Vec<User>> {
    let rows: Vec<UserRow> = sqlx::query_as(&format!("select {COLUMNS} from users order by email"))
        .fetch_all(db.pool())
        .await?;
    Ok(rows.into_iter().map(User::from).collect())
}

/// Sets a new password hash and ends every session of the user but `keep_session`.
pub async fn set_password(
    db: &Db,
    id: &str,
    hash: &str,
    keep_session: Option<&str>,
) -> sqlx::Result<()> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "update users set password_hash = $1, session_epoch = session_epoch + 1 where id = $2",
    )
    .bind(hash)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    delete_password_link(&mut *tx, id).await?;
    end_sessions(&mut *tx, id, keep_session).await?;
    tx.commit().await
}

#[derive(Debug, thiserror::Error)]
pub enum AdminChangeError {
    #[error("no enabled instance administrator would remain")]
    LastAdmin,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Runs `change` and commits it only if an enabled instance admin remains. Changes of admins run
/// one after the other (the first write takes a lock on a settings row), so the count is exact.
async fn keep_an_admin(
    db: &Db,
    change: impl AsyncFnOnce(&mut sqlx::AnyConnection) -> sqlx::Result<()>,
) -> Result<(), AdminChangeError> {
    let mut tx = db.pool().begin().await?;
    super::settings::set(&mut *tx, "admin_change", &now().to_string()).await?;
    change(&mut tx).await?;
    let admins: i64 =
        sqlx::query_scalar("select count(*) from users where is_admin = 1 and disabled = 0")
            .fetch_one(&mut *tx)
            .await?;
    if admins == 0 {
        return Err(AdminChangeError::LastAdmin);
    }
    tx.commit().await?;
    Ok(())
}

/// Disables or re-enables a user; disabling ends all their sessions and their set-password link.
pub async fn set_disabled(db: &Db, id: &str, disabled: bool) -> Result<(), AdminChangeError> {
    keep_an_admin(db, async |conn| {
        sqlx::query(
            "update users set disabled = $1, session_epoch = session_epoch + 1 where id = $2",
        )
        .bind(i64::from(disabled))
        .bind(id)
        .execute(&mut *conn)
        .await?;
        // The access tokens of their API keys issued before end for good.
        sqlx::query("update api_keys set generation = generation + 1 where user_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        if disabled {
            delete_password_link(&mut *conn, id).await?;
            end_sessions(&mut *conn, id, None).await?;
        }
        Ok(())
    })
    .await
}

pub async fn set_admin(db: &Db, id: &str, is_admin: bool) -> Result<(), AdminChangeError> {
    keep_an_admin(db, async |conn| {
        sqlx::query("update users set is_admin = $1 where id = $2")
            .bind(i64::from(is_admin))
            .bind(id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    })
    .await
}

/// Creates the user's set-password link, replacing an earlier one (one link per user).
pub async fn create_password_link<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &str,
    token_hash: &str,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into password_links (token_hash, user_id, created_at, expires_at) values ($1, $2, $3, $4)
         on conflict (user_id) do update set token_hash = excluded.token_hash,
             created_at = excluded.created_at, expires_at = excluded.expires_at",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now())
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

async fn delete_password_link<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &str,
) -> sqlx::Result<()> {
    sqlx::query("delete from password_links where user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// The user a still-valid link belongs to.
pub async fn find_by_password_link(db: &Db, token_hash: &str) -> sqlx::Result<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as(
        "select u.id, u.email, u.name, u.password_hash, u.is_admin, u.disabled, u.session_epoch, u.created_at
         from password_links l join users u on u.id = l.user_id
         where l.token_hash = $1 and l.expires_at > $2 and u.disabled = 0",
    )
    .bind(token_hash)
    .bind(now())
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(User::from))
}

/// Uses a link: sets the password and deletes the link, in one transaction. `false` when the
/// link was already used or has expired.
pub async fn use_password_link(
    db: &Db,
    token_hash: &str,
    password_hash: &str,
) -> sqlx::Result<bool> {
    let mut tx = db.pool().begin().await?;
    let user_id: Option<String> = sqlx::query_scalar(
        "delete from password_links where token_hash = $1 and expires_at > $2 returning user_id",
    )
    .bind(token_hash)
    .bind(now())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(user_id) = user_id else {
        return Ok(false);
    };
    let updated = sqlx::query("update users set password_hash = $1, session_epoch = session_epoch + 1 where id = $2 and disabled = 0")
        .bind(password_hash)
        .bind(&user_id)
        .execute(&mut *tx)
        .await?;
    if updated.rows_affected() == 0 {
        // Disabled since the link was opened: nothing is set, the link stays as it was.
        return Ok(false);
    }
    end_sessions(&mut *tx, &user_id, None).await?;
    tx.commit().await?;
    Ok(true)
}

/// Counts a refused sign-in with `email`; nothing happens when no user has it.
pub async fn count_failed_sign_in(db: &Db, email: &str) -> sqlx::Result<()> {
    sqlx::query("update users set failed_sign_ins = failed_sign_ins + 1 where email = $1")
        .bind(email)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The refused sign-ins with the user's email since they last signed in; counting starts anew
/// (refusals counted meanwhile are kept for next time).
pub async fn take_failed_sign_ins(db: &Db, id: &str) -> sqlx::Result<i64> {
    let count: Option<i64> = sqlx::query_scalar("select failed_sign_ins from users where id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    let count = count.unwrap_or(0);
    if count > 0 {
        sqlx::query("update users set failed_sign_ins = failed_sign_ins - $1 where id = $2")
            .bind(count)
            .bind(id)
            .execute(db.pool())
            .await?;
    }
    Ok(count)
}

/// Ends every session of a user except `keep` (the one making the change, if any).
/// Ends every session of the user (a back-channel logout from the single sign-on provider);
/// returns how many there were.
pub async fn end_all_sessions(db: &Db, id: &str) -> sqlx::Result<u64> {
    let mut tx = db.pool().begin().await?;
    sqlx::query("update users set session_epoch = session_epoch + 1 where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let ended = end_sessions(&mut *tx, id, None).await?;
    tx.commit().await?;
    Ok(ended)
}

async fn end_sessions<'e>(
    db: impl Executor<'e, Database = Any>,
    user_id: &str,
    keep: Option<&str>,
) -> sqlx::Result<u64> {
    let deleted = sqlx::query("delete from sessions where user_id = $1 and id <> $2")
        .bind(user_id)
        .bind(keep.map(super::session_key).unwrap_or_default())
        .execute(db)
        .await?;
    Ok(deleted.rows_affected())
}
