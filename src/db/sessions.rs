//! Server-side sessions in the portal's own database, for tower-sessions.
//!
//! The user id is copied out of the session data into its own column so that all sessions of a
//! user can be ended at once (password change, disabling). Rows are keyed by a SHA-256 of the
//! session id, so that a copy of the database does not hand out live sessions.

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::{FromRow, Row, any::AnyRow};
use tower_sessions::{
    ExpiredDeletion, SessionStore,
    session::{Id, Record},
    session_store,
};

use super::{
    Db, now,
    projects::{MEMBERSHIP_COLUMNS_OF_P_M, MembershipRow, Project},
    users::{COLUMNS_OF_U, User, UserRow},
};
use crate::domain::roles::Role;

pub use super::session_key as key;

/// The session key under which the signed-in user's id is kept.
pub const USER_ID_KEY: &str = "user_id";

#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn backend(e: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn encode(record: &Record) -> session_store::Result<(String, Option<String>)> {
    let data = serde_json::to_string(&record.data)
        .map_err(|e| session_store::Error::Encode(e.to_string()))?;
    let user_id = record
        .data
        .get(USER_ID_KEY)
        .and_then(|v| v.as_str())
        .map(str::to_string);
    Ok((data, user_id))
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let (data, user_id) = encode(record)?;
        // A new id is drawn until one is free: ids are random 128-bit values, so this loops at most rarely.
        loop {
            let inserted = sqlx::query(
                "insert into sessions (id, data, expiry_date, user_id) values ($1, $2, $3, $4)
                 on conflict (id) do nothing",
            )
            .bind(key(&record.id.to_string()))
            .bind(&data)
            .bind(record.expiry_date.unix_timestamp())
            .bind(&user_id)
            .execute(self.db.pool())
            .await
            .map_err(backend)?;
            if inserted.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let (data, user_id) = encode(record)?;
        // An update only: a session deleted meanwhile (sign-out, password change) stays deleted
        // even when a request that loaded it earlier finishes later. New sessions go through `create`.
        sqlx::query("update sessions set data = $2, expiry_date = $3, user_id = $4 where id = $1")
            .bind(key(&record.id.to_string()))
            .bind(&data)
            .bind(record.expiry_date.unix_timestamp())
            .bind(&user_id)
            .execute(self.db.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(known) = take_preloaded(id) {
            return Ok(known);
        }
        let row: Option<(String, i64)> = sqlx::query_as(
            "select data, expiry_date from sessions where id = $1 and expiry_date > $2",
        )
        .bind(key(&id.to_string()))
        .bind(now())
        .fetch_optional(self.db.pool())
        .await
        .map_err(backend)?;
        let Some((data, expiry)) = row else {
            return Ok(None);
        };
        decode(id, &data, expiry)
            .map(Some)
            .map_err(|e| session_store::Error::Decode(e.to_string()))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sqlx::query("delete from sessions where id = $1")
            .bind(key(&id.to_string()))
            .execute(self.db.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }
}

fn decode(id: &Id, data: &str, expiry: i64) -> anyhow::Result<Record> {
    Ok(Record {
        id: *id,
        data: serde_json::from_str(data)?,
        expiry_date: time::OffsetDateTime::from_unix_timestamp(expiry)?,
    })
}

/// A live session, read with its signed-in user (if any) and, on a project's pages, the user's
/// project and role there.
pub struct LoadedSession {
    pub record: Record,
    /// `None` when nobody is signed in, or the user was deleted; the membership is `None` also
    /// when the page is not a project's.
    pub signed_in: Option<(User, Option<(Project, Role)>)>,
}

/// The session `id` with its user and their membership of project `slug`, in one query: what
/// every page needs before it does anything. `None` when the session is gone or expired. Hand the
/// outcome to the session with [`with_preloaded`] so that it is not read twice.
pub async fn load_with_user(
    db: &Db,
    id: &Id,
    slug: Option<&str>,
) -> sqlx::Result<Option<LoadedSession>> {
    let mut connection = db.page_connection().await?;
    static QUERY: LazyLock<String> = LazyLock::new(|| {
        format!(
            "select s.data as session_data, s.expiry_date as session_expiry, {COLUMNS_OF_U},
                 {MEMBERSHIP_COLUMNS_OF_P_M}
             from sessions s
             left join users u on u.id = s.user_id
             left join projects p on p.slug = $3
             left join memberships m on m.project_id = p.id and m.user_id = u.id
             where s.id = $1 and s.expiry_date > $2"
        )
    });
    let row: Option<AnyRow> = sqlx::query(&QUERY)
        .bind(key(&id.to_string()))
        .bind(now())
        .bind(slug)
        .fetch_optional(connection.get())
        .await?;
    connection.done();
    let Some(row) = row else {
        return Ok(None);
    };
    let record = decode(
        id,
        row.try_get("session_data")?,
        row.try_get("session_expiry")?,
    )
    .map_err(|e| sqlx::Error::Decode(e.into()))?;
    // The user's columns are NULL when the session has no user, or its user is gone.
    let signed_in = match row.try_get::<Option<String>, _>("id")? {
        Some(_) => Some((
            User::from(UserRow::from_row(&row)?),
            MembershipRow::from_row(&row)?.into_membership()?,
        )),
        None => None,
    };
    Ok(Some(LoadedSession { record, signed_in }))
}

tokio::task_local! {
    /// What [`load_with_user`] found of a session, for the request being served.
    static PRELOADED: std::cell::Cell<Option<(Id, Option<Record>)>>;
}

/// Runs `f` with what [`load_with_user`] found of session `id` (its record, or that there is
/// none) at hand: the store's `load` of that session inside `f` takes it instead of reading the
/// database again. A session already loaded in this request keeps its own record.
pub async fn with_preloaded<F: Future>(id: Id, record: Option<Record>, f: F) -> F::Output {
    PRELOADED
        .scope(std::cell::Cell::new(Some((id, record))), f)
        .await
}

/// What was preloaded of session `id`: `Some(None)` when it is known not to exist.
fn take_preloaded(id: &Id) -> Option<Option<Record>> {
    PRELOADED
        .try_with(|preloaded| preloaded.take())
        .ok()
        .flatten()
        .filter(|(preloaded, _)| preloaded == id)
        .map(|(_, record)| record)
}

#[async_trait]
impl ExpiredDeletion for DbSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        sqlx::query("delete from sessions where expiry_date <= $1")
            .bind(now())
            .execute(self.db.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }
}
