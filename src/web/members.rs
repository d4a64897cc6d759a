//! `/projects/{slug}/members`: who is in a project and with which role. Admins and owners add,
//! change and remove members; only owners touch the owner role; a project keeps an owner.

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

use super::{AppState, PageError, extract::ProjectMember, forms::FieldErrors, session, view::Ctx};
use crate::{
    db::{
        self,
        projects::{Member, ProjectError},
    },
    domain::{
        roles::{Action, Role, may_change_membership},
        validate,
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/projects/{slug}/members",
            get(members_get).post(members_post),
        )
        .route(
            "/projects/{slug}/members/{user_id}/role",
            post(member_role_post),
        )
        .route(
            "/projects/{slug}/members/{user_id}/remove",
            post(member_remove_post),
        )
}

#[derive(Template, WebTemplate)]
#[template(path = "members.html")]
struct MembersPage {
    ctx: Ctx,
    slug: String,
    project_name: String,
    role: Role,
    members: Vec<Member>,
    may_manage: bool,
    roles: Vec<Role>,
    email: String,
    new_role: String,
    errors: FieldErrors,
}

impl MembersPage {
    async fn build(state: &AppState, member: ProjectMember) -> Result<Self, PageError> {
        let members = db::projects::members(&state.db, &member.project.id).await?;
        let may_manage = member.may(Action::ManageMembers);
        // The roles this member may hand out.
        let roles = Role::ALL
            .into_iter()
            .filter(|r| may_change_membership(member.role, None, Some(*r)))
            .collect();
        Ok(MembersPage {
            ctx: member.ctx,
            slug: member.project.slug,
            project_name: member.project.name,
            role: member.role,
            members,
            may_manage,
            roles,
            email: String::new(),
            new_role: Role::Member.as_str().into(),
            errors: FieldErrors::default(),
        })
    }

    fn may_change(&self, target: &Member) -> bool {
        may_change_membership(self.role, Some(target.role), None)
    }
}

async fn members_get(
    State(state): State<AppState>,
    member: ProjectMember,
) -> Result<MembersPage, PageError> {
    member.require(Action::ViewMembers)?;
    MembersPage::build(&state, member).await
}

#[derive(Deserialize)]
struct AddMemberForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

async fn members_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Form(form): Form<AddMemberForm>,
) -> Result<Response, PageError> {
    member.require(Action::ManageMembers)?;
    let mut errors = FieldErrors::default();
    let role = Role::parse(&form.role);
    match role {
        None => errors.add("role", "Choose one of the roles."),
        Some(r) if !may_change_membership(member.role, None, Some(r)) => {
            errors.add("role", "Only owners may add owners.")
        }
        Some(_) => {}
    }
    let user = match validate::email(&form.email) {
        Ok(email) => {
            let user = db::users::find_by_email(&state.db, &email).await?;
            if user.is_none() {
                errors.add(
                    "email",
                    "No user has this email. An instance administrator creates users.",
                );
            }
            user
        }
        Err(message) => {
            errors.add("email", message);
            None
        }
    };
    if let (true, Some(user), Some(role)) = (errors.is_empty(), &user, role) {
        match db::projects::add_member(&state.db, &member.project.id, &user.id, role).await {
            Ok(()) => {
                tracing::info!(by = %member.user.id, project = %member.project.id, user = %user.id, %role, "member added");
                member
                    .audit(&state, "member.add", &user.email, &format!("role {role}"))
                    .await?;
                session::set_notice(&member.session, format!("{} joined as {role}.", user.email))
                    .await?;
                return Ok(
                    Redirect::to(&format!("/projects/{}/members", member.project.slug))
                        .into_response(),
                );
            }
            Err(ProjectError::AlreadyMember) => {
                errors.add("email", "This user is already a member.")
            }
            Err(e) => return Err(anyhow::Error::from(e).into()),
        }
    }
    let mut page = MembersPage::build(&state, member).await?;
    page.email = form.email;
    page.new_role = form.role;
    page.errors = errors;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

#[derive(Deserialize)]
struct RoleForm {
    #[serde(default)]
    role: String,
}

async fn member_role_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, user_id)): Path<(String, String)>,
    Form(form): Form<RoleForm>,
) -> Result<Redirect, PageError> {
    let role = Role::parse(&form.role).ok_or(PageError::BadRequest("Unknown role."))?;
    change(&state, member, &user_id, Some(role)).await
}

async fn member_remove_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, user_id)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    change(&state, member, &user_id, None).await
}

/// Changes (Some) or removes (None) a membership, after checking the actor may.
async fn change(
    state: &AppState,
    member: ProjectMember,
    user_id: &str,
    to: Option<Role>,
) -> Result<Redirect, PageError> {
    member.require(Action::ManageMembers)?;
    let back = Redirect::to(&format!("/projects/{}/members", member.project.slug));
    let change =
        db::projects::change_member(&state.db, &member.project.id, &member.user.id, user_id, to);
    let notice = match change.await {
        Ok(()) => {
            let target = db::users::find(&state.db, user_id)
                .await?
                .map(|u| u.email)
                .unwrap_or_default();
            match to {
                Some(role) => {
                    member
                        .audit(state, "member.role", &target, &format!("role {role}"))
                        .await?
                }
                None => member.audit(state, "member.remove", &target, "").await?,
            }
            tracing::info!(by = %member.user.id, project = %member.project.id, user = %user_id, to = ?to.map(Role::as_str), "membership changed");
            match to {
                Some(role) => format!("Role changed to {role}."),
                None => "Member removed.".into(),
            }
        }
        Err(ProjectError::LastOwner) => {
            "A project keeps at least one owner: make someone else owner first.".into()
        }
        Err(ProjectError::NotMember) => return Err(PageError::NotFound),
        Err(ProjectError::NotAllowed) => {
            return Err(PageError::Forbidden(
                "Only owners may grant, change or take away the owner role.",
            ));
        }
        Err(e) => return Err(anyhow::Error::from(e).into()),
    };
    session::set_notice(&member.session, notice).await?;
    Ok(back)
}
