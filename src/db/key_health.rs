//! The health page's one read: every credential of a project (or of the instance) with its
//! project, its service and that service's rotation policy, its owner's name, and its latest
//! Show, Copy or Download from the audit log, in one query whatever the number of keys.

use sqlx::FromRow;

use super::Db;
use crate::domain::{
    credentials::Owner,
    rotation::RotationPolicy,
    services::{CredentialState, DriverKind},
};

/// A credential as the health page sees it: no secret, no description, no bookkeeping.
#[derive(Clone, Debug)]
pub struct KeyRecord {
    pub id: String,
    pub project_slug: String,
    pub project_name: String,
    pub service_id: String,
    pub service_name: String,
    pub driver: DriverKind,
    pub policy: RotationPolicy,
    pub owner: Owner,
    pub owner_name: String,
    pub name: String,
    /// The public part: matched against the backend's list, never shown by the health page.
    pub access_key: String,
    pub enabled: bool,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub rotated_at: Option<i64>,
    pub state: CredentialState,
    /// The latest Show, Copy or Download of its secret.
    pub last_used: Option<i64>,
    /// The latest Show that found its secret does not decrypt.
    pub damaged_at: Option<i64>,
}

impl KeyRecord {
    /// Its last rotation, or its creation: its age counts from here.
    pub fn last_change(&self) -> i64 {
        self.rotated_at.unwrap_or(self.created_at)
    }
}

#[derive(FromRow)]
struct Row {
    id: String,
    project_slug: String,
    project_name: String,
    service_id: String,
    service_name: String,
    driver: String,
    max_key_age_days: Option<i64>,
    rotation_warning_days: Option<i64>,
    owner_user_id: Option<String>,
    owner_app_id: Option<String>,
    owner_name: Option<String>,
    name: String,
    access_key: String,
    enabled: i64,
    expires_at: Option<i64>,
    created_at: i64,
    rotated_at: Option<i64>,
    state: String,
    last_used: Option<i64>,
    damaged_at: Option<i64>,
}

impl TryFrom<Row> for KeyRecord {
    type Error = sqlx::Error;

    fn try_from(row: Row) -> sqlx::Result<Self> {
        let unknown = |column: &str, value: &str| {
            sqlx::Error::Decode(format!("credential {}: unknown {column} {value:?}", row.id).into())
        };
        let driver =
            DriverKind::parse(&row.driver).ok_or_else(|| unknown("driver", &row.driver))?;
        let state =
            CredentialState::parse(&row.state).ok_or_else(|| unknown("state", &row.state))?;
        let owner = match (row.owner_user_id, row.owner_app_id) {
            (Some(user), _) => Owner::User(user),
            (None, Some(app)) => Owner::App(app),
            (None, None) => Owner::App(String::new()),
        };
        Ok(KeyRecord {
            id: row.id,
            project_slug: row.project_slug,
            project_name: row.project_name,
            service_id: row.service_id,
            service_name: row.service_name,
            driver,
            policy: RotationPolicy {
                max_age_days: row.max_key_age_days,
                warning_days: row.rotation_warning_days,
            },
            owner,
            owner_name: row.owner_name.unwrap_or_default(),
            name: row.name,
            access_key: row.access_key,
            enabled: row.enabled != 0,
            expires_at: row.expires_at,
            created_at: row.created_at,
            rotated_at: row.rotated_at,
            state,
            last_used: row.last_used,
            damaged_at: row.damaged_at,
        })
    }
}

/// The query, with the condition on services and on audit events left open. Uses are read from
/// `audit_events_credential_use` alone (migration 0014); a Show that found the secret damaged is
/// no use. The owner's name is looked up per row by primary key, as `db::credentials` does.
fn select(services: &str, events: &str) -> String {
    format!(
        "select c.id, p.slug as project_slug, p.name as project_name, s.id as service_id,
             s.name as service_name, s.driver, s.max_key_age_days, s.rotation_warning_days,
             c.owner_user_id, c.owner_app_id,
             coalesce((select name from users where id = c.owner_user_id),
                      (select name from apps where id = c.owner_app_id)) as owner_name,
             c.name, c.access_key, c.enabled, c.expires_at, c.created_at, c.rotated_at, c.state,
             used.last_used, used.damaged_at
         from services s
         join projects p on p.id = s.project_id
         join credentials c on c.service_id = s.id
         left join (
             select credential_id,
                 max(case when detail = 'damaged' then null else at end) as last_used,
                 max(case when detail = 'damaged' then at end) as damaged_at
             from audit_events where {events} credential_id is not null
             group by credential_id
         ) used on used.credential_id = c.id
         {services}"
    )
}

fn decode(rows: Vec<Row>) -> sqlx::Result<Vec<KeyRecord>> {
    rows.into_iter().map(KeyRecord::try_from).collect()
}

/// Every credential of the project.
pub async fn project(db: &Db, project_id: &str) -> sqlx::Result<Vec<KeyRecord>> {
    let rows: Vec<Row> = sqlx::query_as(&select("where s.project_id = $1", "project_id = $1 and"))
        .bind(project_id)
        .fetch_all(db.pool())
        .await?;
    decode(rows)
}

/// Every credential of every project.
pub async fn instance(db: &Db) -> sqlx::Result<Vec<KeyRecord>> {
    let rows: Vec<Row> = sqlx::query_as(&select("", "project_id is not null and"))
        .fetch_all(db.pool())
        .await?;
    decode(rows)
}
