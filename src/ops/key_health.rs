//! Credential health: every key a member sees in a project (or, for instance administrators,
//! every key of the instance) with its age against its service's rotation policy, its last use,
//! its expiry and its flags; the counts per flag, the filters, the order, the page, and the ages
//! for the chart. Two reads for the whole page (`db::key_health`); the rest is computed here.
//! No secret is read.

use std::{cmp::Ordering, collections::HashMap};

use super::{OpError, Ops, Principal, User, credentials::visible_to, principal::require_instance};
use crate::{
    db::{self, key_health::KeyRecord},
    domain::{
        key_health::{Flags, KeyFlag, flags},
        roles::{Action, InstanceAction},
        rotation::{DAY, Deadline},
        services::DriverKind,
        time,
    },
    ops::key_status::Statuses,
};

/// Keys on one page.
pub const PAGE_SIZE: usize = 100;

/// The column the list is ordered by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortBy {
    Project,
    Service,
    Key,
    Owner,
    #[default]
    Age,
    Rotated,
    Used,
    Expires,
}

impl SortBy {
    pub const ALL: [SortBy; 8] = [
        SortBy::Project,
        SortBy::Service,
        SortBy::Key,
        SortBy::Owner,
        SortBy::Age,
        SortBy::Rotated,
        SortBy::Used,
        SortBy::Expires,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SortBy::Project => "project",
            SortBy::Service => "service",
            SortBy::Key => "key",
            SortBy::Owner => "owner",
            SortBy::Age => "age",
            SortBy::Rotated => "rotated",
            SortBy::Used => "used",
            SortBy::Expires => "expires",
        }
    }

    pub fn parse(value: &str) -> Option<SortBy> {
        SortBy::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// Which keys, in which order, which part of them.
#[derive(Clone, Debug, Default)]
pub struct HealthQuery {
    pub flag: Option<KeyFlag>,
    pub service: Option<String>,
    pub sort: SortBy,
    pub descending: bool,
    /// The page, from 1; `None` for every matching key (the CSV download).
    pub page: Option<usize>,
}

/// A key with what the page says of it.
pub struct KeyHealth {
    pub key: KeyRecord,
    pub age_days: i64,
    pub flags: Flags,
    pub rotation: Option<Deadline>,
    pub expiry: Option<Deadline>,
    /// Its last use as its backend (IAM) last reported it to this process, if it did.
    pub backend_last_used: Option<String>,
}

/// Where a key's age stands against its service's policy: the chart's colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    NoPolicy,
    Within,
    DueSoon,
    Overdue,
}

impl Standing {
    pub const ALL: [Standing; 4] = [
        Standing::Within,
        Standing::DueSoon,
        Standing::Overdue,
        Standing::NoPolicy,
    ];
}

/// The chart's age groups, in days: up to (not including) the first number, and their label.
pub const AGE_GROUPS: [(i64, &str); 6] = [
    (30, "0–29"),
    (90, "30–89"),
    (180, "90–179"),
    (365, "180–364"),
    (730, "365–729"),
    (i64::MAX, "730+"),
];

pub struct HealthReport {
    /// The page's keys (every matching key when no page was asked for).
    pub keys: Vec<KeyHealth>,
    /// Keys matching the filters.
    pub matching: usize,
    /// Keys of the chosen service (or all), whatever their flags: what the counts and the chart
    /// are of.
    pub seen: usize,
    pub counts: Vec<(KeyFlag, usize)>,
    /// For each age group of [`AGE_GROUPS`], the keys of each [`Standing`] (in its order).
    pub ages: [[usize; 4]; 6],
    /// The services to filter by: id and name (with the project's, for the instance).
    pub services: Vec<(String, String)>,
    pub page: usize,
    pub pages: usize,
}

/// The health of the keys `who` sees in their project: their own and the app keys, or, for
/// those who manage other members' keys, all of them (the rule of View Credentials).
pub async fn project(
    ops: &Ops,
    who: &Principal,
    query: &HealthQuery,
) -> Result<HealthReport, OpError> {
    who.require(Action::ViewProject)?;
    let mut records = db::key_health::project(&ops.db, &who.project().id).await?;
    let visible = visible_to(who);
    records.retain(|r| visible(&r.owner));
    let services = service_menu(&records, |r| r.service.name.clone());
    Ok(report(ops, records, services, query))
}

/// The health of every key of the instance, for its administrators: what the project page
/// shows of each key, never a key itself.
pub async fn instance(
    ops: &Ops,
    admin: &User,
    query: &HealthQuery,
) -> Result<HealthReport, OpError> {
    require_instance(admin, InstanceAction::ViewKeyHealth)?;
    let records = db::key_health::instance(&ops.db).await?;
    let services = service_menu(&records, |r| {
        format!("{} / {}", r.service.project_name, r.service.name)
    });
    Ok(report(ops, records, services, query))
}

/// The services the keys belong to, by name, for the filter.
fn service_menu(
    records: &[KeyRecord],
    label: impl Fn(&KeyRecord) -> String,
) -> Vec<(String, String)> {
    let mut seen: HashMap<&str, String> = HashMap::new();
    for r in records {
        seen.entry(&r.service.id).or_insert_with(|| label(r));
    }
    let mut services: Vec<(String, String)> = seen
        .into_iter()
        .map(|(id, name)| (id.to_string(), name))
        .collect();
    services.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    services
}

fn report(
    ops: &Ops,
    records: Vec<KeyRecord>,
    services: Vec<(String, String)>,
    query: &HealthQuery,
) -> HealthReport {
    let now = time::now();
    let mut counts = [0usize; KeyFlag::ALL.len()];
    let mut ages = [[0usize; 4]; 6];
    let mut seen = 0;
    let mut keys: Vec<KeyHealth> = Vec::new();
    for key in records {
        if query.service.as_ref().is_some_and(|s| *s != key.service.id) {
            continue;
        }
        let health = assess(key, now);
        seen += 1;
        for (n, flag) in KeyFlag::ALL.into_iter().enumerate() {
            counts[n] += usize::from(health.flags.contains(flag));
        }
        let group = AGE_GROUPS
            .iter()
            .position(|(under, _)| health.age_days < *under)
            .unwrap_or(AGE_GROUPS.len() - 1);
        let standing = Standing::ALL
            .iter()
            .position(|s| *s == health.standing())
            .expect("every standing is listed");
        ages[group][standing] += 1;
        if query.flag.is_none_or(|f| health.flags.contains(f)) {
            keys.push(health);
        }
    }
    keys.sort_by(|a, b| compare(query.sort, a, b, query.descending));
    let matching = keys.len();
    let pages = matching.div_ceil(PAGE_SIZE).max(1);
    let page = query.page.map_or(1, |p| p.clamp(1, pages));
    if query.page.is_some() {
        keys.truncate(page * PAGE_SIZE);
        keys.drain(..(page - 1) * PAGE_SIZE);
    }
    backend_uses(ops, &mut keys);
    HealthReport {
        keys,
        matching,
        seen,
        counts: KeyFlag::ALL.into_iter().zip(counts).collect(),
        ages,
        services,
        page,
        pages,
    }
}

fn assess(key: KeyRecord, now: i64) -> KeyHealth {
    let facts = key.facts();
    KeyHealth {
        age_days: (now - facts.last_change).max(0) / DAY,
        flags: flags(&key.service.policy, &facts, now),
        rotation: key.service.policy.rotation(facts.last_change, now),
        expiry: key.service.policy.expiry(key.expires_at, now),
        backend_last_used: None,
        key,
    }
}

impl KeyHealth {
    pub fn standing(&self) -> Standing {
        match self.rotation {
            None => Standing::NoPolicy,
            Some(due) if due.is_past() => Standing::Overdue,
            Some(due) if due.is_near() => Standing::DueSoon,
            Some(_) => Standing::Within,
        }
    }
}

/// The order of two keys by `sort`, then by service, name and id, so that pages do not overlap.
fn compare(sort: SortBy, a: &KeyHealth, b: &KeyHealth, descending: bool) -> Ordering {
    let (x, y) = (&a.key, &b.key);
    let primary = match sort {
        SortBy::Project => x.service.project_name.cmp(&y.service.project_name),
        SortBy::Service => x.service.name.cmp(&y.service.name),
        SortBy::Key => x.name.cmp(&y.name),
        SortBy::Owner => x.owner_name.cmp(&y.owner_name),
        // The oldest last change is the greatest age.
        SortBy::Age => y.last_change().cmp(&x.last_change()),
        SortBy::Rotated => x.rotated_at.cmp(&y.rotated_at),
        SortBy::Used => x.last_used.cmp(&y.last_used),
        // A key that never expires comes after every one that does.
        SortBy::Expires => x
            .expires_at
            .unwrap_or(i64::MAX)
            .cmp(&y.expires_at.unwrap_or(i64::MAX)),
    };
    let primary = if descending {
        primary.reverse()
    } else {
        primary
    };
    primary
        .then_with(|| x.service.name.cmp(&y.service.name))
        .then_with(|| x.name.cmp(&y.name))
        .then_with(|| x.id.cmp(&y.id))
}

/// Fills in the backends' last use of `keys` from what this process last heard (the View
/// Credentials page's key status, kept for its own use): asks no backend.
fn backend_uses(ops: &Ops, keys: &mut [KeyHealth]) {
    let mut known: HashMap<String, Option<HashMap<String, String>>> = HashMap::new();
    for health in keys.iter_mut() {
        if health.key.service.driver != DriverKind::AwsIam {
            continue;
        }
        let service = known
            .entry(health.key.service.id.clone())
            .or_insert_with(|| ops.key_statuses.known(&health.key.service.id).map(uses));
        health.backend_last_used = service
            .as_ref()
            .and_then(|uses| uses.get(&health.key.access_key))
            .cloned();
    }
}

/// Each key's last use, where the backend told it.
fn uses(statuses: Statuses) -> HashMap<String, String> {
    statuses
        .iter()
        .filter(|k| !k.last_used.is_empty())
        .map(|k| (k.access_key.clone(), k.last_used.clone()))
        .collect()
}
