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
    extract::InstanceAdmin,
    forms::FieldErrors,
    session,
    view::{Ctx, UnixTime},
};
use crate::{
    crypto::{random_token, sha256_hex},
    db::{
        self,
        users::{AdminChangeError, CreateUserError, NewUser, User},
    },
    domain::validate,
};

/// How long a set-password link works.
const LINK_HOURS: i64 = 72;

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
    let users = db::users::list(&state.db).await?;
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
    let mut errors = FieldErrors::default();
    let email = errors.check("email", validate::email(&form.email));
    let name = errors.check("name", validate::person_name(&form.name));
    let is_admin = form.is_admin.is_some();
    if errors.is_empty() {
        let new = NewUser {
            email: &email,
            name: &name,
            password_hash: None,
            is_admin,
        };
        // The user and their link are written together, or neither.
        let mut tx = state.db.pool().begin().await?;
        match db::users::create(&mut *tx, new).await {
            Ok(user) => {
                let link = new_password_link(&mut tx, &state, &user).await?;
                tx.commit().await?;
                tracing::info!(by = %admin.user.id, user = %user.id, "user created");
                return Ok(PasswordLinkPage {
                    ctx: admin.ctx,
                    user,
                    link,
                    hours: LINK_HOURS,
                    created: true,
                }
                .into_response());
            }
            Err(CreateUserError::EmailTaken) => {
                errors.add("email", "A user with this email already exists.")
            }
            Err(CreateUserError::Database(e)) => return Err(e.into()),
        }
    }
    let users = db::users::list(&state.db).await?;
    let page = UsersPage {
        ctx: admin.ctx,
        users,
        email: form.email,
        name: form.name,
        is_admin,
        errors,
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// Creates a link (replacing an older one) and returns it; only its hash is kept.
async fn new_password_link(
    conn: &mut sqlx::AnyConnection,
    state: &AppState,
    user: &User,
) -> Result<String, PageError> {
    let token = random_token();
    let expires_at = db::now() + LINK_HOURS * 3600;
    db::users::create_password_link(conn, &user.id, &sha256_hex(&token), expires_at).await?;
    Ok(format!(
        "{}/set-password/{token}",
        state.config.public_url()
    ))
}

async fn target_user(state: &AppState, id: &str) -> Result<User, PageError> {
    db::users::find(&state.db, id)
        .await?
        .ok_or(PageError::NotFound)
}

async fn password_link_post(
    State(state): State<AppState>,
    InstanceAdmin(admin): InstanceAdmin,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let user = target_user(&state, &id).await?;
    if user.disabled {
        session::set_notice(
            &admin.session,
            format!("{} is disabled: enable the account first.", user.email),
        )
        .await?;
        return Ok(Redirect::to("/admin/users").into_response());
    }
    let mut conn = state.db.pool().acquire().await?;
    let link = new_password_link(&mut conn, &state, &user).await?;
    tracing::info!(by = %admin.user.id, user = %user.id, "set-password link created");
    Ok(PasswordLinkPage {
        ctx: admin.ctx,
        user,
        link,
        hours: LINK_HOURS,
        created: false,
    }
    .into_response())
}

#[derive(Clone, Copy, Debug)]
enum UserChange {
    Disable,
    Enable,
    MakeAdmin,
    RevokeAdmin,
}

async fn disable_post(
    state: State<AppState>,
    admin: InstanceAdmin,
    id: Path<String>,
) -> Result<Redirect, PageError> {
    change_user(state, admin, id, UserChange::Disable).await
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

/// Applies a change to a user's account. Admins do not disable or demote themselves, and an
/// enabled instance admin always remains.
async fn change_user(
    State(state): State<AppState>,
    InstanceAdmin(admin): InstanceAdmin,
    Path(id): Path<String>,
    change: UserChange,
) -> Result<Redirect, PageError> {
    let user = target_user(&state, &id).await?;
    let own = user.id == admin.user.id;
    let refusal = match change {
        UserChange::Disable if own => Some("You cannot disable your own account."),
        UserChange::RevokeAdmin if own => {
            Some("You cannot take away your own administrator right; ask another administrator.")
        }
        _ => None,
    };
    let notice = match refusal {
        Some(refusal) => refusal.to_string(),
        None => {
            let (outcome, done) = match change {
                UserChange::Disable => (
                    db::users::set_disabled(&state.db, &user.id, true).await,
                    "is disabled and signed out everywhere",
                ),
                UserChange::Enable => (
                    db::users::set_disabled(&state.db, &user.id, false).await,
                    "is enabled again",
                ),
                UserChange::MakeAdmin => (
                    db::users::set_admin(&state.db, &user.id, true).await,
                    "is now an instance administrator",
                ),
                UserChange::RevokeAdmin => (
                    db::users::set_admin(&state.db, &user.id, false).await,
                    "is no longer an instance administrator",
                ),
            };
            match outcome {
                Ok(()) => {
                    tracing::info!(by = %admin.user.id, user = %user.id, ?change, "account changed");
                    format!("{} {done}.", user.email)
                }
                Err(AdminChangeError::LastAdmin) => {
                    "Refused: no enabled instance administrator would remain.".to_string()
                }
                Err(AdminChangeError::Database(e)) => return Err(e.into()),
            }
        }
    };
    session::set_notice(&admin.session, notice).await?;
    Ok(Redirect::to("/admin/users"))
}
