//! `/projects/{project}/audit`: the project's audit log for its admins and owners, newest first,
//! a page at a time, through the operation of the Audit page.

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::{
        auth::ApiPrincipal,
        error::{ApiError, Failure},
    },
    ops::{
        self, Event, OpError,
        audit::{AuditQuery, PAGE_SIZE},
    },
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_get))
}

/// One event: who did what, when, from where. Never a secret.
#[derive(Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Who acted, e.g. `ada@example.org`, `ada@example.org (API key kp_AbCdEfGh)`.
    pub actor: String,
    /// What was done, e.g. `credential.reveal`, `credential.regenerate`.
    pub action: String,
    /// What it was done to, e.g. the service and credential.
    pub target: String,
    pub ip: String,
    pub user_agent: String,
    /// More about it, e.g. the access keys of a regeneration or the client configuration.
    pub detail: String,
}

impl From<Event> for AuditEvent {
    fn from(e: Event) -> Self {
        AuditEvent {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            ip: e.ip,
            user_agent: e.user_agent,
            detail: e.detail,
        }
    }
}

/// One page of the audit log.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub events: Vec<AuditEvent>,
    /// When older events remain: the `before` of the next page.
    pub next: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    /// How many events to answer with, 1 to 50 (default 50).
    #[param(minimum = 1, maximum = 50)]
    limit: Option<i64>,
    /// Only events older than this event id: the `next` of the page before.
    before: Option<i64>,
    /// Only the events of this actor, exactly as the log names them.
    actor: Option<String>,
    /// Only the events of this action, e.g. `credential.reveal`.
    action: Option<String>,
}

/// The project's audit log.
///
/// Newest first, a page at a time; for the project's admins and owners.
#[utoipa::path(
    get,
    path = "/projects/{project}/audit",
    tag = "audit",
    params(("project" = String, Path, description = "The project's slug"), AuditParams),
    responses(
        (status = 200, description = "One page of events", body = AuditPage),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "Only the project's admins and owners read its audit log", body = ApiError),
        (status = 404, description = "No such project, or the caller may not see it", body = ApiError),
        (status = 422, description = "The limit or another query parameter is not valid", body = ApiError),
    )
)]
async fn audit_get(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<AuditPage>, Failure> {
    let Query(params) = params?;
    let limit = match params.limit.unwrap_or(PAGE_SIZE) {
        limit @ 1..=PAGE_SIZE => limit as usize,
        _ => return Err(OpError::field("limit", "Ask for 1 to 50 events.").into()),
    };
    let query = AuditQuery {
        actor: params.actor.as_deref().unwrap_or_default(),
        action: params.action.as_deref().unwrap_or_default(),
        before: params.before,
    };
    let mut log = ops::audit::list(&state.ops, &who, query).await?;
    // A page shorter than the operation's ends where the caller asked.
    let next = if log.events.len() > limit {
        log.events.truncate(limit);
        log.events.last().map(|e| e.id)
    } else {
        log.older_than
    };
    let events = log.events.into_iter().map(AuditEvent::from).collect();
    Ok(Json(AuditPage { events, next }))
}
