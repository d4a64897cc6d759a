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
use crate::ops::{self, Event, Project, audit::AuditQuery};

pub fn router() -> Router<AppState> {
    Router::new().route("/projects/{slug}/audit", get(audit_get))
}

#[derive(Deserialize, Default)]
struct AuditForm {
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
    Query(form): Query<AuditForm>,
) -> Result<AuditPage, PageError> {
    let query = AuditQuery {
        actor: &form.actor,
        action: &form.action,
        before: form.before,
    };
    let log = ops::audit::list(&state.ops, &member, query).await?;
    // The same filters, one page further back.
    let older = log.older_than.map(|before| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("actor", &form.actor)
            .append_pair("action", &form.action)
            .append_pair("before", &before.to_string())
            .finish()
    });
    Ok(AuditPage {
        ctx: member.ctx,
        project: member.principal.project().clone(),
        events: log.events,
        actors: log.actors,
        actions: log.actions,
        actor: form.actor,
        action: form.action,
        older,
    })
}
