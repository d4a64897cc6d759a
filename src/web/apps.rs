//! `/projects/{slug}/apps`: the project's apps (service identities) that hold app keys. Every
//! member sees them; admins and owners create and delete them.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;

use super::{
    AppState, PageError,
    extract::ProjectMember,
    forms::FieldErrors,
    session,
    view::{Ctx, UnixTime},
};
use crate::{
    db::{apps::App, projects::Project},
    ops::{
        self, OpError,
        apps::{Apps, NewApp},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{slug}/apps", get(apps_get).post(apps_post))
        .route("/projects/{slug}/apps/{id}/delete", post(app_delete_post))
}

#[derive(Template, WebTemplate)]
#[template(path = "apps.html")]
struct AppsPage {
    ctx: Ctx,
    project: Project,
    apps: Vec<App>,
    may_manage: bool,
    name: String,
    description: String,
    errors: FieldErrors,
}

impl AppsPage {
    fn new(member: ProjectMember, apps: Apps) -> Self {
        AppsPage {
            ctx: member.ctx,
            project: member.principal.project,
            apps: apps.apps,
            may_manage: apps.may_manage,
            name: String::new(),
            description: String::new(),
            errors: FieldErrors::default(),
        }
    }
}

fn apps_url(member: &ProjectMember) -> String {
    format!("/projects/{}/apps", member.project.slug)
}

#[derive(Deserialize)]
struct AppForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

async fn apps_get(
    State(state): State<AppState>,
    member: ProjectMember,
) -> Result<AppsPage, PageError> {
    let apps = ops::apps::list(&state.ops, &member).await?;
    Ok(AppsPage::new(member, apps))
}

async fn apps_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Form(form): Form<AppForm>,
) -> Result<Response, PageError> {
    let new = NewApp {
        name: &form.name,
        description: &form.description,
    };
    let errors = match ops::apps::create(&state.ops, &member, new).await {
        Ok(app) => {
            let notice = format!(
                "App {} created. Add its keys on the Credentials page.",
                app.name
            );
            session::set_notice(&member.session, notice).await?;
            return Ok(Redirect::to(&apps_url(&member)).into_response());
        }
        Err(OpError::Invalid(errors)) => errors,
        Err(e) => return Err(e.into()),
    };
    let apps = ops::apps::list(&state.ops, &member).await?;
    let page = AppsPage {
        name: form.name,
        description: form.description,
        errors,
        ..AppsPage::new(member, apps)
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

async fn app_delete_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    let notice = match ops::apps::delete(&state.ops, &member, &id).await {
        Ok(app) => format!("App {} deleted.", app.name),
        // An app that still holds keys is told on the apps page, not on an error page.
        Err(OpError::Refused(why)) => why,
        Err(e) => return Err(e.into()),
    };
    session::set_notice(&member.session, notice).await?;
    Ok(Redirect::to(&apps_url(&member)))
}
