//! `/admin/audit`: the instance audit log (accounts, sign-ins, settings, personal API keys,
//! refresh-token reuse), for instance admins, filtered by actor, action and days, a page at a
//! time.

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
    extract::InstanceAdmin,
    view::{Ctx, UnixTime},
};
use crate::ops::{self, Event, Period, audit::InstanceAuditQuery};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/audit", get(instance_audit_get))
}

#[derive(Deserialize, Default)]
struct InstanceAuditForm {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    /// First day shown, `YYYY-MM-DD` (UTC).
    #[serde(default)]
    from: String,
    /// Last day shown, inclusive.
    #[serde(default)]
    to: String,
    before: Option<i64>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_audit.html")]
struct InstanceAuditPage {
    ctx: Ctx,
    events: Vec<Event>,
    actors: Vec<String>,
    actions: Vec<String>,
    form: InstanceAuditForm,
    /// Why a day typed in the filter was not used.
    error: Option<&'static str>,
    older: Option<String>,
}

/// Midnight UTC of the day `value` (`YYYY-MM-DD`), in Unix seconds; `Ok(None)` when empty.
fn day_start(value: &str) -> Result<Option<i64>, &'static str> {
    crate::domain::time::parse_day(value)
        .map_err(|crate::domain::time::NotADay| "Enter days such as 2026-11-30; the filter by day was left out.")
}

async fn instance_audit_get(
    State(state): State<AppState>,
    InstanceAdmin(admin): InstanceAdmin,
    Query(form): Query<InstanceAuditForm>,
) -> Result<InstanceAuditPage, PageError> {
    let (period, error) = match (day_start(&form.from), day_start(&form.to)) {
        (Ok(since), Ok(to)) => {
            let until = to.map(|day| day + 86_400);
            (Period { since, until }, None)
        }
        (Err(e), _) | (_, Err(e)) => (Period::default(), Some(e)),
    };
    let query = InstanceAuditQuery {
        actor: &form.actor,
        action: &form.action,
        period,
        before: form.before,
    };
    let log = ops::audit::instance_list(&state.ops, &admin.user, query).await?;
    // The same filters, one page further back.
    let older = log.older_than.map(|before| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("actor", &form.actor)
            .append_pair("action", &form.action)
            .append_pair("from", &form.from)
            .append_pair("to", &form.to)
            .append_pair("before", &before.to_string())
            .finish()
    });
    Ok(InstanceAuditPage {
        ctx: admin.ctx,
        events: log.events,
        actors: log.actors,
        actions: log.actions,
        form,
        error,
        older,
    })
}
