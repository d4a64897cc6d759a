//! What a departing member leaves behind in a project: the keys they hold, and the keys of others
//! whose secret they showed, copied or downloaded (the audit log's `credential_id`, migration
//! 0014) since the key last changed; and, once they left, those keys flagged until rotated.

use std::collections::HashMap;

use sqlx::FromRow;

use super::Db;

/// A key named as the departure's confirmation lists it.
#[derive(Clone, Debug, FromRow, PartialEq)]
pub struct DepartureKey {
    pub id: String,
    pub service: String,
    pub name: String,
    pub access_key: String,
    pub owner_name: String,
}

const KEY_COLUMNS: &str =
    "c.id, s.name as service, c.name, c.access_key, coalesce(u.name, a.name, '') as owner_name";

/// The keys `user_id` holds in the project.
pub async fn held(db: &Db, project_id: &str, user_id: &str) -> sqlx::Result<Vec<DepartureKey>> {
    sqlx::query_as(&format!(
        "select {KEY_COLUMNS} from credentials c join services s on s.id = c.service_id
         left join users u on u.id = c.owner_user_id left join apps a on a.id = c.owner_app_id
         where c.project_id = $1 and c.owner_user_id = $2 order by s.name, c.name, c.id"
    ))
    .bind(project_id)
    .bind(user_id)
    .fetch_all(db.pool())
    .await
}

/// The condition "the member `$2` showed, copied or downloaded `c`'s secret since it last changed".
const SEEN: &str =
    "exists (select 1 from audit_events e where e.credential_id = c.id and e.actor_id = $2
        and e.action in ('credential.reveal', 'credential.copy', 'credential.download')
        and e.at >= coalesce(c.rotated_at, c.created_at))";

/// The keys of others (members and apps) in the project whose secret `user_id` saw since they
/// last changed.
pub async fn seen(db: &Db, project_id: &str, user_id: &str) -> sqlx::Result<Vec<DepartureKey>> {
    sqlx::query_as(&format!(
        "select {KEY_COLUMNS} from credentials c join services s on s.id = c.service_id
         left join users u on u.id = c.owner_user_id left join apps a on a.id = c.owner_app_id
         where c.project_id = $1 and (c.owner_user_id is null or c.owner_user_id <> $2) and {SEEN}
         order by s.name, c.name, c.id"
    ))
    .bind(project_id)
    .bind(user_id)
    .fetch_all(db.pool())
    .await
}

/// Records that `user_id` left the project at `at`: the keys of others they saw get flagged.
/// Returns how many.
pub async fn record(
    db: &Db,
    project_id: &str,
    user_id: &str,
    email: &str,
    at: i64,
) -> sqlx::Result<u64> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "delete from departed_views where user_id = $2 and credential_id in
         (select c.id from credentials c where c.project_id = $1)",
    )
    .bind(project_id)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    let flagged = sqlx::query(&format!(
        "insert into departed_views (credential_id, user_id, email, departed_at)
         select c.id, $2, $3, $4 from credentials c
         where c.project_id = $1 and (c.owner_user_id is null or c.owner_user_id <> $2) and {SEEN}"
    ))
    .bind(project_id)
    .bind(user_id)
    .bind(email)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(flagged.rows_affected())
}

/// The keys of the service still to rotate because a departed member saw them, with who.
pub async fn flagged(db: &Db, service_id: &str) -> sqlx::Result<HashMap<String, Vec<String>>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select d.credential_id, d.email from departed_views d join credentials c on c.id = d.credential_id
         where c.service_id = $1 and coalesce(c.rotated_at, c.created_at) < d.departed_at
         order by d.email",
    )
    .bind(service_id)
    .fetch_all(db.pool())
    .await?;
    let mut by_key: HashMap<String, Vec<String>> = HashMap::new();
    for (id, email) in rows {
        by_key.entry(id).or_default().push(email);
    }
    Ok(by_key)
}

/// Schedules the revocation, at `due_at`, of every key `user_id` holds in the project (a key
/// already scheduled keeps its earlier date); returns how many keys were scheduled.
pub async fn schedule_revocations(
    db: &Db,
    project_id: &str,
    user_id: &str,
    departed_email: &str,
    due_at: i64,
    requested_by: &str,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "insert into scheduled_revocations (credential_id, project_id, departed_email, due_at, requested_by)
         select c.id, c.project_id, $3, $4, $5 from credentials c
         where c.project_id = $1 and c.owner_user_id = $2
         on conflict (credential_id) do nothing",
    )
    .bind(project_id)
    .bind(user_id)
    .bind(departed_email)
    .bind(due_at)
    .bind(requested_by)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected())
}

/// A revocation whose grace period is over, claimed by this process.
#[derive(Clone, Debug, FromRow)]
pub struct DueRevocation {
    pub credential_id: String,
    pub project_id: String,
    pub departed_email: String,
    pub requested_by: String,
    pub attempts: i64,
}

/// Claims up to `limit` revocations due at `now` that no other process holds, until `until`:
/// of everyone's departures, or with `departed` of that one's (its email, as recorded).
pub async fn claim_due_revocations(
    db: &Db,
    now: i64,
    until: i64,
    limit: i64,
    departed: Option<&str>,
) -> sqlx::Result<Vec<DueRevocation>> {
    let due: Vec<DueRevocation> = sqlx::query_as(
        "select credential_id, project_id, departed_email, requested_by, attempts
         from scheduled_revocations where due_at <= $1 and claimed_until < $1
         and ($3 = '' or departed_email = $3)
         order by due_at limit $2",
    )
    .bind(now)
    .bind(limit)
    .bind(departed.unwrap_or_default())
    .fetch_all(db.pool())
    .await?;
    let mut claimed = Vec::with_capacity(due.len());
    for revocation in due {
        // One conditional update: of two processes that read the row, one claims it.
        let taken = sqlx::query(
            "update scheduled_revocations set claimed_until = $2
             where credential_id = $1 and due_at <= $3 and claimed_until < $3",
        )
        .bind(&revocation.credential_id)
        .bind(until)
        .bind(now)
        .execute(db.pool())
        .await?;
        if taken.rows_affected() == 1 {
            claimed.push(revocation);
        }
    }
    Ok(claimed)
}

/// Records that a claimed revocation failed: it waits until `retry_at`, its error kept.
pub async fn revocation_failed(
    db: &Db,
    credential_id: &str,
    error: &str,
    retry_at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "update scheduled_revocations
         set attempts = attempts + 1, last_error = $2, due_at = $3, claimed_until = 0
         where credential_id = $1",
    )
    .bind(credential_id)
    .bind(error)
    .bind(retry_at)
    .execute(db.pool())
    .await?;
    Ok(())
}
