//! The health page's reads: the services of a project (or of the instance) with their project
//! and rotation policy, and every key of them with its owner's name and its latest Show, Copy or
//! Download from the audit log. Two queries, whatever the number of keys.
//!
//! The database hands the keys over as one JSON text (an array of one array per key), which
//! serde reads: sqlx's `Any` rows copy every value twice, about 0.7 µs each on SQLite here, so
//! 10,000 keys took 150 ms as rows and take a fraction of that as one value
//! (docs/performance.md).

use std::{collections::HashMap, sync::Arc};

use serde::Deserialize;
use sqlx::FromRow;

use super::{Backend, Db};
use crate::domain::{
    credentials::Owner,
    key_health::KeyFacts,
    rotation::RotationPolicy,
    rotation_steps::RotationStep,
    services::{CredentialState, DriverKind},
};

/// A service as the health page sees it, shared by its keys.
#[derive(Debug)]
pub struct HealthService {
    pub id: String,
    pub name: String,
    pub driver: DriverKind,
    pub policy: RotationPolicy,
    pub project_slug: String,
    pub project_name: String,
}

/// A credential as the health page sees it: no secret, no description, no bookkeeping.
#[derive(Clone, Debug)]
pub struct KeyRecord {
    pub id: String,
    pub service: Arc<HealthService>,
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
    /// When the latest member who had seen its secret left (`db::departures`).
    pub departed_at: Option<i64>,
    /// Its part in a guided rotation: the step, and whether it is the second (new) key.
    pub rotation_step: Option<(RotationStep, bool)>,
}

impl KeyRecord {
    /// Its part in a guided rotation in words: "step 2 (old key)".
    pub fn rotation_words(&self) -> Option<String> {
        self.rotation_step.map(|(step, new)| {
            let under_way = if step.is_resting() { "" } else { ", under way" };
            let which = if new { "new key" } else { "old key" };
            format!("step {}{under_way} ({which})", step.number())
        })
    }

    /// Its last rotation, or its creation: its age counts from here.
    pub fn last_change(&self) -> i64 {
        self.rotated_at.unwrap_or(self.created_at)
    }

    /// What the health rules and the reminders judge it by.
    pub fn facts(&self) -> KeyFacts {
        KeyFacts {
            last_change: self.last_change(),
            expires_at: self.expires_at,
            enabled: self.enabled,
            active: self.state.is_active(),
            last_used: self.last_used,
            damaged_at: self.damaged_at,
            departed_at: self.departed_at,
        }
    }
}

#[derive(FromRow)]
struct ServiceRow {
    id: String,
    name: String,
    driver: String,
    max_key_age_days: Option<i64>,
    rotation_warning_days: Option<i64>,
    project_slug: String,
    project_name: String,
}

/// A key as the query writes it: the fields in the order of its JSON array.
#[derive(Deserialize)]
struct Row {
    id: String,
    service_id: String,
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
    departed_at: Option<i64>,
    rotation: Option<String>,
}

fn decode_error(what: String) -> sqlx::Error {
    sqlx::Error::Decode(what.into())
}

/// The services' query, with its condition left open.
fn services_query(services: &str) -> String {
    format!(
        "select s.id, s.name, s.driver, s.max_key_age_days, s.rotation_warning_days,
             p.slug as project_slug, p.name as project_name
         from services s join projects p on p.id = s.project_id {services}"
    )
}

/// The keys' query, with the condition on services and on audit events left open: one JSON
/// text. Uses are read from `audit_events_credential_use` alone (migration 0014); a Show that
/// found the secret damaged is no use.
fn keys_query(backend: Backend, services: &str, events: &str) -> String {
    let columns = "c.id, c.service_id, c.owner_user_id, c.owner_app_id, coalesce(u.name, a.name),
             c.name, c.access_key, c.enabled, c.expires_at, c.created_at, c.rotated_at, c.state,
             used.last_used, used.damaged_at, departed.departed_at,
             case when r.step is not null then r.step || ':old'
                  when rn.step is not null then rn.step || ':new' end";
    // The same array of arrays from each database; PostgreSQL's is null for no rows.
    let keys = match backend {
        Backend::Sqlite => format!("json_group_array(json_array({columns}))"),
        Backend::Postgres => {
            format!("coalesce(json_agg(json_build_array({columns}))::text, '[]')")
        }
    };
    format!(
        "select {keys}
         from services s
         join credentials c on c.service_id = s.id
         left join users u on u.id = c.owner_user_id
         left join apps a on a.id = c.owner_app_id
         left join (
             select credential_id,
                 max(case when detail = 'damaged' then null else at end) as last_used,
                 max(case when detail = 'damaged' then at end) as damaged_at
             from audit_events where {events} credential_id is not null
             group by credential_id
         ) used on used.credential_id = c.id
         left join (
             select credential_id, max(departed_at) as departed_at
             from departed_views group by credential_id
         ) departed on departed.credential_id = c.id
         left join rotations r on r.credential_id = c.id
         left join rotations rn on rn.new_credential_id = c.id
         {services}"
    )
}

/// The keys of `keys` (the JSON text), each with its service of `services`.
fn decode(services: Vec<ServiceRow>, keys: &str) -> sqlx::Result<Vec<KeyRecord>> {
    let mut by_id = HashMap::new();
    for s in services {
        let driver = DriverKind::parse(&s.driver)
            .ok_or_else(|| decode_error(format!("service {}: driver {:?}", s.id, s.driver)))?;
        let service = HealthService {
            driver,
            policy: RotationPolicy {
                max_age_days: s.max_key_age_days,
                warning_days: s.rotation_warning_days,
            },
            id: s.id,
            name: s.name,
            project_slug: s.project_slug,
            project_name: s.project_name,
        };
        by_id.insert(service.id.clone(), Arc::new(service));
    }
    let rows: Vec<Row> = serde_json::from_str(keys).map_err(|e| decode_error(e.to_string()))?;
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        // A service added between the two reads, and its keys, wait for the next page.
        let Some(service) = by_id.get(&row.service_id).cloned() else {
            continue;
        };
        let state = CredentialState::parse(&row.state)
            .ok_or_else(|| decode_error(format!("credential {}: state {:?}", row.id, row.state)))?;
        records.push(KeyRecord {
            id: row.id,
            service,
            owner: Owner::from_columns(row.owner_user_id, row.owner_app_id),
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
            departed_at: row.departed_at,
            rotation_step: row.rotation.as_deref().and_then(|r| {
                let (step, role) = r.split_once(':')?;
                Some((RotationStep::parse(step)?, role == "new"))
            }),
        });
    }
    Ok(records)
}

/// Every credential of the project.
pub async fn project(db: &Db, project_id: &str) -> sqlx::Result<Vec<KeyRecord>> {
    let services: Vec<ServiceRow> = sqlx::query_as(&services_query("where s.project_id = $1"))
        .bind(project_id)
        .fetch_all(db.pool())
        .await?;
    let sql = keys_query(
        db.backend(),
        "where s.project_id = $1",
        "project_id = $1 and",
    );
    let keys: String = sqlx::query_scalar(&sql)
        .bind(project_id)
        .fetch_one(db.pool())
        .await?;
    decode(services, &keys)
}

/// Every credential of every project.
pub async fn instance(db: &Db) -> sqlx::Result<Vec<KeyRecord>> {
    let services: Vec<ServiceRow> = sqlx::query_as(&services_query(""))
        .fetch_all(db.pool())
        .await?;
    let sql = keys_query(db.backend(), "", "project_id is not null and");
    let keys: String = sqlx::query_scalar(&sql).fetch_one(db.pool()).await?;
    decode(services, &keys)
}
