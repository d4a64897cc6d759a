//! `/projects/{slug}/audit`: the project's audit log, newest first, for owners and admins.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Router,
    extract::{Query, State},
    routing::get,
};
use serde::Deserialize;

use super::{
    AppState, PageError,
    extract::ProjectMember,
    view::{Ctx, UnixTime},
};
use crate::{
    db::{
        self,
        audit::{Event, Filter},
        projects::Project,
    },
    domain::roles::Action,
};

const PAGE_SIZE: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new().route("/projects/{slug}/audit", get(audit_get))
}

#[derive(Deserialize, Default)]
struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    before: Option<i64>,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
struct AuditPage {
    ctx: Ctx,
    project: Project,
    events: Vec<Event>,
    actors: Vec<String>,
    actions: Vec<String>,
    actor: String,
    action: String,
    /// The query of the next (older) page, when there is one.
    older: Option<String>,
}

async fn audit_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Query(query): Query<AuditQuery>,
) -> Result<AuditPage, PageError> {
    member.require(Action::ViewAudit)?;
    let filter = Filter {
        actor: Some(query.actor.as_str()).filter(|a| !a.is_empty()),
        action: Some(query.action.as_str()).filter(|a| !a.is_empty()),
        before: query.before,
        limit: PAGE_SIZE + 1,
    };
    let mut events = db::audit::list(&state.db, &member.project.id, &filter).await?;
    let older = if events.len() as i64 > PAGE_SIZE {
        events.truncate(PAGE_SIZE as usize);
        events.last().map(|last| {
            form_urlencoded::Serializer::new(String::new())
                .append_pair("actor", &query.actor)
                .append_pair("action", &query.action)
                .append_pair("before", &last.id.to_string())
                .finish()
        })
    } else {
        None
    };
    let (actors, actions) = db::audit::facets(&state.db, &member.project.id).await?;
    Ok(AuditPage {
        ctx: member.ctx,
        project: member.project,
        events,
        actors,
        actions,
        actor: query.actor,
        action: query.action,
        older,
    })
}
