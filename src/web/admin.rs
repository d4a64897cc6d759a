//! `/admin/users`: instance admins create users (with a one-time set-password link), disable
//! and re-enable them, and grant or take away the admin right.

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
    confirm::{ConfirmPage, Confirmation},
    extract::InstanceAdmin,
    forms::FieldErrors,
    session,
    view::{Ctx, UnixTime},
};
use crate::{
    db::users::User,
    ops::{
        self, OpError,
        admin::{LINK_HOURS, NewUser, PasswordLink, UserChange},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(users_get).post(users_post))
        .route("/admin/users/{id}/disable", post(disable_post))
        .route("/admin/users/{id}/enable", post(enable_post))
        .route("/admin/users/{id}/make-admin", post(make_admin_post))
        .route("/admin/users/{id}/revoke-admin", post(revoke_admin_post))
        .route("/admin/users/{id}/password-link", post(password_link_post))
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_users.html")]
struct UsersPage {
    ctx: Ctx,
    users: Vec<User>,
    email: String,
    name: String,
    is_admin: bool,
    errors: FieldErrors,
}

#[derive(Template, WebTemplate)]
#[template(path = "password_link.html")]
struct PasswordLinkPage {
    ctx: Ctx,
    user: User,
    link: String,
    hours: i64,
    created: bool,
}

impl PasswordLinkPage {
    fn new(state: &AppState, ctx: Ctx, link: PasswordLink, created: bool) -> Self {
        PasswordLinkPage {
            ctx,
            link: format!("{}/set-password/{}", state.config.public_url(), link.token),
            user: link.user,
            hours: LINK_HOURS,
            created,
        }
    }
}

#[derive(Deserialize)]
struct NewUserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    is_admin: Option<String>,
}

async fn users_get(
    State(state): State<AppState>,
    InstanceAdmin(admin): InstanceAdmin,
) -> Result<UsersPage, PageError> {
    let users = ops::admin::users(&state.ops, &admin.user).await?;
    Ok(UsersPage {
        ctx: admin.ctx,
        users,
        email: String::new(),
        name: String::new(),
        is_admin: false,
        errors: FieldErrors::default(),
    })
}

async fn users_post(
    State(state): State<AppState>,
    InstanceAdmin(admin): InstanceAdmin,
    Form(form): Form<NewUserForm>,
) -> Result<Response, PageError> {
    let new = NewUser {
        email: &form.email,
        name: &form.name,
        is_admin: form.is_admin.is_some(),
    };
    let errors = match ops::admin::create_user(&state.ops, &admin.user, new).await {
        Ok(link) => return Ok(PasswordLinkPage::new(&state, admin.ctx, link, true).into_response()),
        Err(OpError::Invalid(errors)) => errors,
        Err(e) => return Err(e.into()),
    };
    let page = UsersPage {
        users: ops::admin::users(&state.ops, &admin.user).await?,
        ctx: admin.ctx,
        email: form.email,
        name: form.name,
        is_admin: form.is_admin.is_some(),
        errors,
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

async fn password_link_post(
    State(state): State<AppState>,
    InstanceAdmin(admin): InstanceAdmin,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    match ops::admin::password_link(&state.ops, &admin.user, &id).await {
        Ok(link) => Ok(PasswordLinkPage::new(&state, admin.ctx, link, false).into_response()),
        // A disabled user gets no link; the users page says why.
        Err(OpError::Refused(why)) => {
            session::set_notice(&admin.session, why).await?;
            Ok(Redirect::to("/admin/users").into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn disable_post(
    state: State<AppState>,
    admin: InstanceAdmin,
    id: Path<String>,
    Form(confirmation): Form<Confirmation>,
) -> Result<Response, PageError> {
    if !confirmation.given() {
        let InstanceAdmin(admin) = admin;
        return Ok(ConfirmPage {
            title: "Disable this user?".into(),
            message:
                "They are signed out everywhere at once and cannot sign in until enabled again; \
                      their API keys stop working too."
                    .into(),
            action: format!("/admin/users/{}/disable", id.0),
            button: "Disable",
            back: "/admin/users".into(),
            alternative: None,
            fields: Vec::new(),
            ctx: admin.ctx,
        }
        .into_response());
    }
    Ok(change_user(state, admin, id, UserChange::Disable)
        .await?
        .into_response())
}

async fn enable_post(
    state: State<AppState>,
    admin: InstanceAdmin,
    id: Path<String>,
) -> Result<Redirect, PageError> {
    change_user(state, admin, id, UserChange::Enable).await
}

async fn make_admin_post(
    state: State<AppState>,
    admin: InstanceAdmin,
    id: Path<String>,
) -> Result<Redirect, PageError> {
    change_user(state, admin, id, UserChange::MakeAdmin).await
}

async fn revoke_admin_post(
    state: State<AppState>,
    admin: InstanceAdmin,
    id: Path<String>,
) -> Result<Redirect, PageError> {
    change_user(state, admin, id, UserChange::RevokeAdmin).await
}

/// Applies a change to a user's account; the outcome or the refusal is told on the users page.
async fn change_user(
    State(state): State<AppState>,
    InstanceAdmin(admin): InstanceAdmin,
    Path(id): Path<String>,
    change: UserChange,
) -> Result<Redirect, PageError> {
    let notice = match ops::admin::change_user(&state.ops, &admin.user, &id, change).await {
        Ok(user) => format!("{} {}.", user.email, done(change)),
        Err(OpError::Refused(why)) => why,
        Err(e) => return Err(e.into()),
    };
    session::set_notice(&admin.session, notice).await?;
    Ok(Redirect::to("/admin/users"))
}

/// What a change did, in words that follow the user's email.
fn done(change: UserChange) -> &'static str {
    match change {
        UserChange::Disable => "is disabled and signed out everywhere",
        UserChange::Enable => "is enabled again",
        UserChange::MakeAdmin => "is now an instance administrator",
        UserChange::RevokeAdmin => "is no longer an instance administrator",
    }
}
