//! The audit logs as people read them: a project's (for its owners and admins) and the
//! instance's own (for instance admins), newest first, filtered, a page at a time; and the
//! records of what happens outside any project.

use super::{OpError, Ops, Principal};
use crate::{
    db::{
        self,
        audit::{Actor, Event, Filter, Period},
        users::User,
    },
    domain::{
        audit::AuditAction,
        roles::{Action, InstanceAction},
    },
};

/// How many events one page shows.
pub const PAGE_SIZE: i64 = 50;

/// Which events to show; an empty actor or action means any.
pub struct AuditQuery<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    /// Only events older than this event id: a later page.
    pub before: Option<i64>,
}

/// One page of the log, and what its filters offer.
pub struct AuditLog {
    pub events: Vec<Event>,
    /// Everyone and every action seen in the project, for the filter menus.
    pub actors: Vec<String>,
    pub actions: Vec<String>,
    /// When older events remain: the id the next page starts before.
    pub older_than: Option<i64>,
}

pub async fn list(ops: &Ops, who: &Principal, query: AuditQuery<'_>) -> Result<AuditLog, OpError> {
    who.require(Action::ViewAudit)?;
    let filter = Filter {
        actor: Some(query.actor).filter(|a| !a.is_empty()),
        action: Some(query.action).filter(|a| !a.is_empty()),
        before: query.before,
        // One more than a page tells whether an older page exists.
        limit: PAGE_SIZE + 1,
    };
    let mut events = db::audit::list(&ops.db, &who.project().id, &filter).await?;
    let older_than = if events.len() as i64 > PAGE_SIZE {
        events.truncate(PAGE_SIZE as usize);
        events.last().map(|last| last.id)
    } else {
        None
    };
    let (actors, actions) = db::audit::facets(&ops.db, &who.project().id).await?;
    Ok(AuditLog {
        events,
        actors,
        actions,
        older_than,
    })
}

/// Which of the instance's own events to show; empty strings and `None` mean any.
pub struct InstanceAuditQuery<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub period: Period,
    pub before: Option<i64>,
}

/// The instance audit log: the events that belong to no project (accounts, sign-ins, settings,
/// personal API keys, refresh-token reuse), for instance admins only.
pub async fn instance_list(
    ops: &Ops,
    admin: &User,
    query: InstanceAuditQuery<'_>,
) -> Result<AuditLog, OpError> {
    super::principal::require_instance(admin, InstanceAction::ViewAudit)?;
    let filter = Filter {
        actor: Some(query.actor).filter(|a| !a.is_empty()),
        action: Some(query.action).filter(|a| !a.is_empty()),
        before: query.before,
        limit: PAGE_SIZE + 1,
    };
    let mut events = db::audit::list_instance(&ops.db, &filter, query.period).await?;
    let older_than = if events.len() as i64 > PAGE_SIZE {
        events.truncate(PAGE_SIZE as usize);
        events.last().map(|last| last.id)
    } else {
        None
    };
    let (actors, actions) = db::audit::instance_facets(&ops.db).await?;
    Ok(AuditLog {
        events,
        actors,
        actions,
        older_than,
    })
}

/// Writes an event of the instance (of no project).
pub(crate) async fn record_instance(
    ops: &Ops,
    actor: &Actor,
    action: AuditAction,
    target: &str,
    detail: &str,
) -> Result<(), OpError> {
    db::audit::record(&ops.db, None, actor, action, target, detail).await?;
    Ok(())
}

/// Writes what an instance admin did to `user` into the instance log and into the log of every
/// project `user` is a member of: the project's owners see who acted on their members.
pub(crate) async fn record_on_member(
    ops: &Ops,
    actor: &Actor,
    action: AuditAction,
    user: &User,
    detail: &str,
) -> Result<(), OpError> {
    record_instance(ops, actor, action, &user.email, detail).await?;
    let detail = if detail.is_empty() {
        "by an instance administrator".to_string()
    } else {
        format!("{detail}; by an instance administrator")
    };
    for (project, _) in db::projects::list_for_user(&ops.db, &user.id).await? {
        let project = Some(project.id.as_str());
        db::audit::record(&ops.db, project, actor, action, &user.email, &detail).await?;
    }
    Ok(())
}

/// A sign-in refused by the throttle, before any password was checked: the hook of the code that
/// answers 429. `email` is what was typed, if known. Recorded at most once a minute per address:
/// a flood of refused requests must not become a flood of writes.
pub async fn sign_in_throttled(ops: &Ops, actor: &Actor, email: &str) -> Result<(), OpError> {
    if !ops
        .throttled_sign_ins
        .first_in_a_minute(&actor.ip, db::now())
    {
        return Ok(());
    }
    let detail = "further refusals from this address in the next minute are not recorded";
    record_instance(ops, actor, AuditAction::SignInThrottled, email, detail).await
}

/// The addresses seen in the last minute, at most [`RecentAddresses::CAP`] of them.
#[derive(Default)]
pub struct RecentAddresses(std::sync::Mutex<std::collections::HashMap<String, i64>>);

impl RecentAddresses {
    const CAP: usize = 10_000;

    /// Whether `address` was not seen in the minute before `now`; it is seen from now on. Past
    /// the cap (that many addresses in one minute), nothing more is let through until some age.
    fn first_in_a_minute(&self, address: &str, now: i64) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if seen.get(address).is_some_and(|at| now - at < 60) {
            return false;
        }
        if seen.len() >= Self::CAP {
            seen.retain(|_, at| now - *at < 60);
            if seen.len() >= Self::CAP {
                return false;
            }
        }
        seen.insert(address.to_string(), now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::RecentAddresses;

    #[test]
    fn an_address_is_let_through_once_a_minute_and_the_map_stays_bounded() {
        let recent = RecentAddresses::default();
        assert!(recent.first_in_a_minute("192.0.2.1", 1000));
        assert!(!recent.first_in_a_minute("192.0.2.1", 1059));
        assert!(recent.first_in_a_minute("192.0.2.2", 1059));
        assert!(recent.first_in_a_minute("192.0.2.1", 1060));
        for i in 0..RecentAddresses::CAP {
            recent.first_in_a_minute(&format!("10.0.{}.{}", i / 256, i % 256), 2000);
        }
        assert!(!recent.first_in_a_minute("198.51.100.1", 2001), "full");
        assert!(
            recent.first_in_a_minute("198.51.100.1", 2061),
            "the old ones aged out"
        );
        assert!(recent.0.lock().unwrap().len() <= RecentAddresses::CAP);
    }
}
