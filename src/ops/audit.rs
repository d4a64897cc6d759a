//! A project's audit log as owners and admins read it: newest first, filtered, a page at a time.

use super::{OpError, Ops, Principal};
use crate::{
    db::{
        self,
        audit::{Event, Filter},
    },
    domain::roles::Action,
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
    let mut events = db::audit::list(&ops.db, &who.project.id, &filter).await?;
    let older_than = if events.len() as i64 > PAGE_SIZE {
        events.truncate(PAGE_SIZE as usize);
        events.last().map(|last| last.id)
    } else {
        None
    };
    let (actors, actions) = db::audit::facets(&ops.db, &who.project.id).await?;
    Ok(AuditLog {
        events,
        actors,
        actions,
        older_than,
    })
}
