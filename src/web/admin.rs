//! `/admin/users`: instance admins create users (with a one-time set-password link), disable
//! and re-enable them, and grant or take away the admin right. `/admin/settings`: who must sign
//! in with a second factor, and reminders (their channels, recent messages, a test message).

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
    confirm::DepartureForm,
    extract::{InstanceAdmin, Origin},
    forms::FieldErrors,
    session,
    view::{Ctx, UnixTime},
};
use crate::{
    domain::{rotation::DAY, time::now, two_factor::TwoFactorPolicy},
    ops::{
        self, OpError, User,
        admin::{LINK_HOURS, NewUser, PasswordLink, UserChange},
        departures::Revoke,
        reminders::{Overview, TestAnswer},
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
        .route("/admin/settings", get(settings_get))
        .route("/admin/settings/two-factor", post(two_factor_policy_post))
        .route("/admin/settings/reminders/test", post(reminders_test_post))
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
    origin: Origin,
    Form(form): Form<NewUserForm>,
) -> Result<Response, PageError> {
    let new = NewUser {
        email: &form.email,
        name: &form.name,
        is_admin: form.is_admin.is_some(),
    };
    let actor = origin.by(&admin.user);
    let errors = match ops::admin::create_user(&state.ops, &admin.user, &actor, new).await {
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
    origin: Origin,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let actor = origin.by(&admin.user);
    match ops::admin::password_link(&state.ops, &admin.user, &actor, &id).await {
        Ok(link) => Ok(PasswordLinkPage::new(&state, admin.ctx, link, false).into_response()),
        // A disabled user gets no link; the users page says why.
        Err(OpError::Refused(why)) => {
            session::set_notice(&admin.session, why).await?;
            Ok(Redirect::to("/admin/users").into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// The confirmation of disabling a user: in each of their projects, the keys they hold and the
/// keys of others they saw.
#[derive(Template, WebTemplate)]
#[template(path = "user_disable.html")]
struct UserDisablePage {
    ctx: Ctx,
    user: ops::User,
    projects: Vec<ops::departures::ProjectDeparture>,
    held_count: usize,
    action: String,
    form: DepartureForm,
    days_error: Option<&'static str>,
}

async fn disable_post(
    state: State<AppState>,
    admin: InstanceAdmin,
    origin: Origin,
    id: Path<String>,
    Form(form): Form<DepartureForm>,
) -> Result<Response, PageError> {
    let revoke = form.revoke();
    if !form.given() || revoke.is_err() {
        let InstanceAdmin(admin) = admin;
        let user = ops::admin::user(&state.ops, &admin.user, &id.0).await?;
        let projects = ops::departures::everywhere(&state.ops, &user).await?;
        let (form, status) = match (form.given(), revoke) {
            (true, Err(_)) => (form, StatusCode::UNPROCESSABLE_ENTITY),
            _ => (DepartureForm::offer("leave"), StatusCode::OK),
        };
        let page = UserDisablePage {
            action: format!("/admin/users/{}/disable", id.0),
            user,
            held_count: projects.iter().map(|p| p.held.len()).sum(),
            projects,
            days_error: revoke.err().filter(|_| status != StatusCode::OK),
            form,
            ctx: admin.ctx,
        };
        return Ok((status, page).into_response());
    }
    let revoke_at = match revoke.unwrap_or(Revoke::Leave) {
        Revoke::Now => Some(now()),
        Revoke::After(days) => Some(now() + i64::from(days) * DAY),
        Revoke::Leave => None,
    };
    let InstanceAdmin(admin) = admin;
    let actor = origin.by(&admin.user);
    let change = UserChange::Disable { revoke_at };
    let freshness = session::freshness(&admin.session, &admin.user).await?;
    let changed =
        ops::admin::change_user(&state.ops, &admin.user, &freshness, &actor, &id.0, change);
    let notice = match changed.await {
        Ok(user) => {
            let mut notice = format!("{} {}.", user.email, done(change));
            match revoke_at {
                // "Now": their revocations are taken here, not by the round within seconds.
                Some(at) if at <= now() => {
                    let (revoked, failed) =
                        ops::departures::revoke_due_for(&state.ops, &user).await?;
                    notice.push_str(&format!(
                        " {revoked} of their keys revoked at their backends and deleted."
                    ));
                    if failed > 0 {
                        notice.push_str(&format!(
                            " {failed} could not be revoked yet and work until then: tried again in an hour."
                        ));
                    }
                }
                Some(at) => notice.push_str(&format!(
                    " Their keys will be revoked at their backends on {}; until then they work.",
                    crate::domain::time::day(at)
                )),
                None => {}
            }
            notice
        }
        Err(OpError::Refused(why)) => why,
        Err(e) => return Err(e.into()),
    };
    session::set_notice(&admin.session, notice).await?;
    Ok(Redirect::to("/admin/users").into_response())
}

async fn enable_post(
    state: State<AppState>,
    admin: InstanceAdmin,
    origin: Origin,
    id: Path<String>,
) -> Result<Redirect, PageError> {
    change_user(state, admin, origin, id, UserChange::Enable).await
}

async fn make_admin_post(
    state: State<AppState>,
    admin: InstanceAdmin,
    origin: Origin,
    id: Path<String>,
) -> Result<Redirect, PageError> {
    change_user(state, admin, origin, id, UserChange::MakeAdmin).await
}

async fn revoke_admin_post(
    state: State<AppState>,
    admin: InstanceAdmin,
    origin: Origin,
    id: Path<String>,
) -> Result<Redirect, PageError> {
    change_user(state, admin, origin, id, UserChange::RevokeAdmin).await
}

/// Applies a change to a user's account; the outcome or the refusal is told on the users page.
async fn change_user(
    State(state): State<AppState>,
    InstanceAdmin(admin): InstanceAdmin,
    origin: Origin,
    Path(id): Path<String>,
    change: UserChange,
) -> Result<Redirect, PageError> {
    let actor = origin.by(&admin.user);
    let freshness = session::freshness(&admin.session, &admin.user).await?;
    let changed = ops::admin::change_user(&state.ops, &admin.user, &freshness, &actor, &id, change);
    let notice = match changed.await {
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
        UserChange::Disable { .. } => "is disabled and signed out everywhere",
        UserChange::Enable => "is enabled again",
        UserChange::MakeAdmin => "is now an instance administrator",
        UserChange::RevokeAdmin => "is no longer an instance administrator",
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin_settings.html")]
struct SettingsPage {
    ctx: Ctx,
    policy: TwoFactorPolicy,
    policies: [TwoFactorPolicy; 3],
    reminders: Overview,
    /// Each channel's answer to the test message just sent.
    answers: Vec<TestAnswer>,
    /// Why no test message was sent.
    test_refused: Option<String>,
}

impl SettingsPage {
    async fn new(state: &AppState, ctx: Ctx, admin: &User) -> Result<SettingsPage, PageError> {
        Ok(SettingsPage {
            ctx,
            policy: ops::two_factor::policy(&state.ops).await?,
            policies: TwoFactorPolicy::ALL,
            reminders: ops::reminders::overview(&state.ops, &state.reminders, admin).await?,
            answers: Vec::new(),
            test_refused: None,
        })
    }
}

async fn settings_get(
    State(state): State<AppState>,
    InstanceAdmin(admin): InstanceAdmin,
) -> Result<SettingsPage, PageError> {
    SettingsPage::new(&state, admin.ctx, &admin.user).await
}

/// Sends the test message now and shows each server's answer on the settings page.
async fn reminders_test_post(
    State(state): State<AppState>,
    InstanceAdmin(admin): InstanceAdmin,
    origin: Origin,
) -> Result<Response, PageError> {
    let actor = origin.by(&admin.user);
    let sent = ops::reminders::send_test(&state.ops, &state.reminders, &admin.user, &actor).await;
    let (answers, refused) = match sent {
        Ok(answers) => (answers, None),
        Err(OpError::Refused(why)) => (Vec::new(), Some(why)),
        Err(e) => return Err(e.into()),
    };
    let mut page = SettingsPage::new(&state, admin.ctx, &admin.user).await?;
    page.answers = answers;
    page.test_refused = refused;
    Ok(page.into_response())
}

#[derive(Deserialize)]
struct PolicyForm {
    #[serde(default)]
    policy: String,
}

async fn two_factor_policy_post(
    State(state): State<AppState>,
    InstanceAdmin(admin): InstanceAdmin,
    origin: Origin,
    Form(form): Form<PolicyForm>,
) -> Result<Redirect, PageError> {
    let policy = TwoFactorPolicy::parse(&form.policy)
        .ok_or(PageError::BadRequest("Choose one of the listed policies."))?;
    let actor = origin.by(&admin.user);
    ops::admin::set_two_factor_policy(&state.ops, &admin.user, &actor, policy).await?;
    let notice = format!(
        "Two-factor sign-in: {}. It applies from each user's next sign-in.",
        policy.label()
    );
    session::set_notice(&admin.session, notice).await?;
    Ok(Redirect::to("/admin/settings"))
}
