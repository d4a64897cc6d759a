//! The append-only audit log: who did what, when, from where. Never a secret.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::{Db, now};
use crate::domain::audit::AuditAction;

/// Who acted, and from where.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Actor {
    pub user_id: Option<String>,
    pub label: String,
    pub ip: String,
    pub user_agent: String,
}

#[derive(Clone, Debug, FromRow)]
pub struct Event {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub ip: String,
    pub user_agent: String,
    pub detail: String,
}

/// An event to record.
pub struct Entry<'a> {
    pub project_id: Option<&'a str>,
    pub actor: &'a Actor,
    pub action: AuditAction,
    pub target: &'a str,
    pub detail: &'a str,
    /// The credential whose secret a Show, Copy or Download opened; `None` for other events.
    pub credential_id: Option<&'a str>,
}

pub async fn record(
    db: &Db,
    project_id: Option<&str>,
    actor: &Actor,
    action: AuditAction,
    target: &str,
    detail: &str,
) -> sqlx::Result<()> {
    let entry = Entry {
        project_id,
        actor,
        action,
        target,
        detail,
        credential_id: None,
    };
    insert(db.pool(), &entry).await
}

/// Records `entry` with whatever `executor` is: the pool, or the transaction of the change it
/// records, so that the change and its record are written together.
pub async fn insert<'c>(
    executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
    entry: &Entry<'_>,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into audit_events (at, project_id, actor_id, actor, action, target, ip, user_agent, detail,
             credential_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(now())
    .bind(entry.project_id)
    .bind(&entry.actor.user_id)
    .bind(&entry.actor.label)
    .bind(entry.action.as_str())
    .bind(entry.target)
    .bind(&entry.actor.ip)
    .bind(&entry.actor.user_agent)
    .bind(entry.detail)
    .bind(entry.credential_id)
    .execute(executor)
    .await?;
    Ok(())
}

pub struct Filter<'a> {
    pub actor: Option<&'a str>,
    pub action: Option<&'a str>,
    /// Events older than this id (the next page).
    pub before: Option<i64>,
    pub limit: i64,
}

/// A project's events, newest first.
pub async fn list(db: &Db, project_id: &str, filter: &Filter<'_>) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as(
        "select id, at, actor, action, target, ip, user_agent, detail from audit_events
         where project_id = $1 and ($2 = '' or actor = $2) and ($3 = '' or action = $3) and id < $4
         order by id desc limit $5",
    )
    .bind(project_id)
    .bind(filter.actor.unwrap_or(""))
    .bind(filter.action.unwrap_or(""))
    .bind(filter.before.unwrap_or(i64::MAX))
    .bind(filter.limit)
    .fetch_all(db.pool())
    .await
}

/// The actors and actions seen in a project, for the filter menus.
pub async fn facets(db: &Db, project_id: &str) -> sqlx::Result<(Vec<String>, Vec<String>)> {
    let actors = sqlx::query_scalar(
        "select distinct actor from audit_events where project_id = $1 order by actor",
    )
    .bind(project_id)
    .fetch_all(db.pool())
    .await?;
    let actions = sqlx::query_scalar(
        "select distinct action from audit_events where project_id = $1 order by action",
    )
    .bind(project_id)
    .fetch_all(db.pool())
    .await?;
    Ok((actors, actions))
}

/// A span of time, in Unix seconds; either end may be open.
#[derive(Clone, Copy, Debug, Default)]
pub struct Period {
    pub since: Option<i64>,
    /// Events before this moment (exclusive).
    pub until: Option<i64>,
}

/// The instance's own events (those of no project), newest first.
pub async fn list_instance(
    db: &Db,
    filter: &Filter<'_>,
    period: Period,
) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as(
        "select id, at, actor, action, target, ip, user_agent, detail from audit_events
         where project_id is null and ($1 = '' or actor = $1) and ($2 = '' or action = $2)
           and id < $3 and at >= $4 and at < $5
         order by id desc limit $6",
    )
    .bind(filter.actor.unwrap_or(""))
    .bind(filter.action.unwrap_or(""))
    .bind(filter.before.unwrap_or(i64::MAX))
    .bind(period.since.unwrap_or(i64::MIN))
    .bind(period.until.unwrap_or(i64::MAX))
    .bind(filter.limit)
    .fetch_all(db.pool())
    .await
}

/// The actors and actions seen in the instance's own events, for the filter menus.
pub async fn instance_facets(db: &Db) -> sqlx::Result<(Vec<String>, Vec<String>)> {
    let actors = sqlx::query_scalar(
        "select distinct actor from audit_events where project_id is null order by actor",
    )
    .fetch_all(db.pool())
    .await?;
    let actions = sqlx::query_scalar(
        "select distinct action from audit_events where project_id is null order by action",
    )
    .fetch_all(db.pool())
    .await?;
    Ok((actors, actions))
}
