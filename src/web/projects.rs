//! `/projects`: the projects a user belongs to; instance admins create new ones.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;

use super::{
    AppState, PageError,
    extract::{ProjectMember, SignedIn},
    forms::FieldErrors,
    session,
    view::{Ctx, UnixTime},
};
use crate::{
    domain::roles::Role,
    ops::{self, OpError, Project, projects::NewProject},
    origin::Origin,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/projects", get(projects_get).post(projects_post))
        .route("/projects/{slug}", get(project_get))
}

#[derive(Template, WebTemplate)]
#[template(path = "projects.html")]
struct ProjectsPage {
    ctx: Ctx,
    projects: Vec<(Project, Role)>,
    name: String,
    slug: String,
    owner_email: String,
    errors: FieldErrors,
}

#[derive(Deserialize)]
struct NewProjectForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    owner_email: String,
}

async fn projects_get(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<ProjectsPage, PageError> {
    let projects = ops::projects::list(&state.ops, &signed_in.user).await?;
    Ok(ProjectsPage {
        ctx: signed_in.ctx,
        projects,
        name: String::new(),
        slug: String::new(),
        owner_email: String::new(),
        errors: FieldErrors::default(),
    })
}

async fn projects_post(
    State(state): State<AppState>,
    signed_in: SignedIn,
    origin: Origin,
    Form(form): Form<NewProjectForm>,
) -> Result<Response, PageError> {
    let actor = origin.by(&signed_in.user);
    let new = NewProject {
        name: &form.name,
        slug: &form.slug,
        owner_email: &form.owner_email,
    };
    let errors = match ops::projects::create(&state.ops, &signed_in.user, &actor, new).await {
        Ok(created) => {
            let project = created.project;
            let notice = format!("Project {} created.", project.name);
            session::set_notice(&signed_in.session, notice).await?;
            // The creator opens the project when they are in it; else back to their list.
            let to = if created.creator_is_owner {
                format!("/projects/{}", project.slug)
            } else {
                "/projects".into()
            };
            return Ok(Redirect::to(&to).into_response());
        }
        Err(OpError::Invalid(errors)) => errors,
        Err(e) => return Err(e.into()),
    };
    let page = ProjectsPage {
        projects: ops::projects::list(&state.ops, &signed_in.user).await?,
        ctx: signed_in.ctx,
        name: form.name,
        slug: form.slug,
        owner_email: form.owner_email,
        errors,
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "project.html")]
struct ProjectPage {
    ctx: Ctx,
    project: Project,
    role: Role,
    member_count: usize,
    may_view_audit: bool,
}

async fn project_get(
    State(state): State<AppState>,
    member: ProjectMember,
) -> Result<ProjectPage, PageError> {
    let overview = ops::projects::overview(&state.ops, &member).await?;
    Ok(ProjectPage {
        ctx: member.ctx,
        role: member.principal.role(),
        project: member.principal.project().clone(),
        member_count: overview.member_count,
        may_view_audit: overview.may_view_audit,
    })
}
