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
    db::{
        self,
        projects::{Project, ProjectError},
    },
    domain::{
        roles::{Action, Role},
        validate,
    },
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
    let projects = db::projects::list_for_user(&state.db, &signed_in.user.id).await?;
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
    Form(form): Form<NewProjectForm>,
) -> Result<Response, PageError> {
    if !signed_in.user.is_admin {
        return Err(PageError::Forbidden(
            "Only instance administrators create projects.",
        ));
    }
    let mut errors = FieldErrors::default();
    let name = errors.check("name", validate::project_name(&form.name));
    let slug = errors.check("slug", validate::slug(&form.slug));
    // The first owner: someone named, or the admin creating the project.
    let owner = if form.owner_email.trim().is_empty() {
        Some(signed_in.user.clone())
    } else {
        match validate::email(&form.owner_email) {
            Ok(email) => {
                let found = db::users::find_by_email(&state.db, &email).await?;
                if found.is_none() {
                    errors.add(
                        "owner_email",
                        "No user has this email. Create the user first.",
                    );
                }
                found
            }
            Err(message) => {
                errors.add("owner_email", message);
                None
            }
        }
    };
    if let (true, Some(owner)) = (errors.is_empty(), owner) {
        match db::projects::create(&state.db, &slug, &name, &owner.id).await {
            Ok(project) => {
                tracing::info!(by = %signed_in.user.id, project = %project.id, "project created");
                session::set_notice(
                    &signed_in.session,
                    format!("Project {} created.", project.name),
                )
                .await?;
                let to = if owner.id == signed_in.user.id {
                    format!("/projects/{}", project.slug)
                } else {
                    "/projects".into()
                };
                return Ok(Redirect::to(&to).into_response());
            }
            Err(ProjectError::SlugTaken) => {
                errors.add("slug", "A project with this short name already exists.")
            }
            Err(e) => return Err(anyhow::Error::from(e).into()),
        }
    }
    let projects = db::projects::list_for_user(&state.db, &signed_in.user.id).await?;
    let page = ProjectsPage {
        ctx: signed_in.ctx,
        projects,
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
}

async fn project_get(
    State(state): State<AppState>,
    member: ProjectMember,
) -> Result<ProjectPage, PageError> {
    member.require(Action::ViewProject)?;
    let member_count = db::projects::members(&state.db, &member.project.id)
        .await?
        .len();
    Ok(ProjectPage {
        ctx: member.ctx,
        project: member.project,
        role: member.role,
        member_count,
    })
}
