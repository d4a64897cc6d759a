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
    db::{
        self,
        apps::{App, AppError},
        projects::Project,
    },
    domain::{roles::Action, validate},
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
    async fn build(state: &AppState, member: ProjectMember) -> Result<Self, PageError> {
        let apps = db::apps::list(&state.db, &member.project.id).await?;
        Ok(AppsPage {
            may_manage: member.may(Action::ManageServices),
            ctx: member.ctx,
            project: member.project,
            apps,
            name: String::new(),
            description: String::new(),
            errors: FieldErrors::default(),
        })
    }
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
    member.require(Action::ViewProject)?;
    AppsPage::build(&state, member).await
}

async fn apps_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Form(form): Form<AppForm>,
) -> Result<Response, PageError> {
    member.require(Action::ManageServices)?;
    let mut errors = FieldErrors::default();
    let name = errors.check(
        "name",
        validate::label(&form.name, "Name the app, e.g. nightly-backup."),
    );
    let description = errors.check("description", validate::description(&form.description));
    if errors.is_empty() {
        match db::apps::create(&state.db, &member.project.id, &name, &description).await {
            Ok(_) => {
                member.audit(&state, "app.create", &name, "").await?;
                session::set_notice(
                    &member.session,
                    format!("App {name} created. Add its keys on the Credentials page."),
                )
                .await?;
                return Ok(
                    Redirect::to(&format!("/projects/{}/apps", member.project.slug))
                        .into_response(),
                );
            }
            Err(AppError::NameTaken) => errors.add(
                "name",
                "An app with this name already exists in the project.",
            ),
            Err(e) => return Err(anyhow::Error::from(e).into()),
        }
    }
    let mut page = AppsPage::build(&state, member).await?;
    page.name = form.name;
    page.description = form.description;
    page.errors = errors;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

async fn app_delete_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    member.require(Action::ManageServices)?;
    let app = db::apps::find(&state.db, &member.project.id, &id)
        .await?
        .ok_or(PageError::NotFound)?;
    let notice = match db::apps::delete(&state.db, &member.project.id, &id).await {
        Ok(_) => {
            member.audit(&state, "app.delete", &app.name, "").await?;
            format!("App {} deleted.", app.name)
        }
        Err(AppError::HasCredentials) => {
            format!("{} still holds keys: delete them first.", app.name)
        }
        Err(e) => return Err(anyhow::Error::from(e).into()),
    };
    session::set_notice(&member.session, notice).await?;
    Ok(Redirect::to(&format!("/projects/{slug}/apps")))
}
