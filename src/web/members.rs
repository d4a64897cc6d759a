//! `/projects/{slug}/members`: who is in a project and with which role. Admins and owners add,
//! change and remove members; only owners touch the owner role; a project keeps an owner.

use std::collections::HashSet;

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
    AppState, PageError, confirm::DepartureForm, extract::ProjectMember, forms::FieldErrors,
    session, view::Ctx,
};
use crate::{
    domain::roles::Role,
    ops::{
        self, Member, OpError,
        departures::{DepartureKey, Revoke},
        members::{NewMember, Roster},
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
    members: Vec<Member>,
    may_manage: bool,
    /// The roles this member may hand out.
    roles: Vec<Role>,
    /// The user ids of the members this member may change or remove.
    changeable: HashSet<String>,
    email: String,
    new_role: String,
    errors: FieldErrors,
}

impl MembersPage {
    fn new(member: ProjectMember, roster: Roster) -> Self {
        let project = member.principal.project();
        MembersPage {
            ctx: member.ctx,
            slug: project.slug.clone(),
            project_name: project.name.clone(),
            members: roster.members,
            may_manage: roster.may_manage,
            roles: roster.grantable,
            changeable: roster.changeable,
            email: String::new(),
            new_role: Role::Member.as_str().into(),
            errors: FieldErrors::default(),
        }
    }

    fn may_change(&self, target: &Member) -> bool {
        self.changeable.contains(&target.user_id)
    }
}

fn members_url(member: &ProjectMember) -> String {
    format!("/projects/{}/members", member.project().slug)
}

async fn members_get(
    State(state): State<AppState>,
    member: ProjectMember,
) -> Result<MembersPage, PageError> {
    let roster = ops::members::list(&state.ops, &member).await?;
    Ok(MembersPage::new(member, roster))
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
    let new = NewMember {
        email: &form.email,
        role: &form.role,
    };
    let errors = match ops::members::add(&state.ops, &member, new).await {
        Ok(added) => {
            let notice = format!("{} joined as {}.", added.email, added.role);
            session::set_notice(&member.session, notice).await?;
            return Ok(Redirect::to(&members_url(&member)).into_response());
        }
        Err(OpError::Invalid(errors)) => errors,
        Err(e) => return Err(e.into()),
    };
    let roster = ops::members::list(&state.ops, &member).await?;
    let page = MembersPage {
        email: form.email,
        new_role: form.role,
        errors,
        ..MembersPage::new(member, roster)
    };
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
    let notice = match ops::members::change_role(&state.ops, &member, &user_id, role).await {
        Ok(_) => format!("Role changed to {role}."),
        // A refusal (the last owner) is told on the members page, not on an error page.
        Err(OpError::Refused(why)) => why,
        Err(e) => return Err(e.into()),
    };
    session::set_notice(&member.session, notice).await?;
    Ok(Redirect::to(&members_url(&member)))
}

/// The confirmation of a removal: the keys the member holds and the keys of others they saw.
#[derive(Template, WebTemplate)]
#[template(path = "member_remove.html")]
struct MemberRemovePage {
    ctx: Ctx,
    project_name: String,
    user: ops::User,
    held: Vec<DepartureKey>,
    held_count: usize,
    seen: Vec<DepartureKey>,
    action: String,
    back: String,
    form: DepartureForm,
    days_error: Option<&'static str>,
}

async fn member_remove_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((slug, user_id)): Path<(String, String)>,
    Form(form): Form<DepartureForm>,
) -> Result<Response, PageError> {
    let revoke = form.revoke();
    if !form.given() || revoke.is_err() {
        let departure = ops::departures::departure(&state.ops, &member, &user_id).await?;
        let (form, status) = match (form.given(), revoke) {
            (true, Err(_)) => (form, StatusCode::UNPROCESSABLE_ENTITY),
            _ => (DepartureForm::offer("now"), StatusCode::OK),
        };
        let page = MemberRemovePage {
            project_name: member.project().name.clone(),
            user: departure.user,
            held_count: departure.held.len(),
            held: departure.held,
            seen: departure.seen,
            action: format!("/projects/{slug}/members/{user_id}/remove"),
            back: members_url(&member),
            days_error: revoke.err().filter(|_| status != StatusCode::OK),
            form,
            ctx: member.ctx,
        };
        return Ok((status, page).into_response());
    }
    let revoke = revoke.unwrap_or(Revoke::Leave);
    let notice = match ops::departures::remove(&state.ops, &member, &user_id, revoke).await {
        Ok(removed) => removal_notice(&removed),
        Err(OpError::Refused(why)) => why,
        Err(e) => return Err(e.into()),
    };
    session::set_notice(&member.session, notice).await?;
    Ok(Redirect::to(&members_url(&member)).into_response())
}

/// What a removal did, key by key where a revocation failed.
fn removal_notice(removed: &ops::departures::Removed) -> String {
    let mut notice = format!("{} was removed from the project.", removed.user.email);
    let done: Vec<String> = removed
        .revoked
        .iter()
        .filter(|r| r.failed.is_none())
        .map(|r| format!("{} / {}", r.key.service, r.key.name))
        .collect();
    if !done.is_empty() {
        notice.push_str(&format!(
            " Revoked at the backend and deleted: {}.",
            done.join(", ")
        ));
    }
    for r in removed.revoked.iter() {
        if let Some(why) = &r.failed {
            notice.push_str(&format!(
                " {} / {} was not revoked: {why}",
                r.key.service, r.key.name
            ));
        }
    }
    if let Some((count, due_at)) = removed.scheduled {
        notice.push_str(&format!(
            " {count} of their keys will be revoked at the backend on {}; until then they work.",
            crate::domain::time::day(due_at)
        ));
    }
    if removed.flagged > 0 {
        notice.push_str(&format!(
            " {} key(s) of others they saw are flagged for rotation.",
            removed.flagged
        ));
    }
    notice
}
