//! Signing in (the password, then a code when the user enrolled a second factor) and out, and
//! the one-time set-password links.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::{Path, Request, State},
    http::{Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{
    AppState, PageError,
    extract::{Origin, Visitor},
    forms::FieldErrors,
    session, throttle,
    view::Ctx,
};
use crate::ops::{
    self, OpError, User,
    accounts::{NewPassword, SignIn},
    sign_in::{FirstStep, PasswordPassed},
};

/// How long the code step waits after the password, and how many wrong codes it takes.
const PENDING_SECONDS: i64 = 300;
const MAX_CODE_FAILURES: u32 = 5;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home_get))
        .route("/login", get(login_get).post(login_post))
        .route("/login/code", get(login_code_get).post(login_code_post))
        .route(
            "/set-password/{token}",
            get(set_password_get).post(set_password_post),
        )
}

/// Signing out, outside the throttle of the password forms: a visitor whose address is throttled
/// can always end their session.
pub fn sign_out_router() -> Router<AppState> {
    Router::new().route("/logout", post(logout_post))
}

async fn home_get(visitor: Visitor) -> Redirect {
    if visitor.ctx.user.is_some() {
        Redirect::to("/projects")
    } else {
        Redirect::to("/login")
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub(super) struct LoginPage {
    ctx: Ctx,
    email: String,
    error: Option<String>,
    /// The single sign-on provider's name, for its button.
    sso_name: Option<String>,
}

/// The sign-in page, with the single sign-on button when the instance has a provider.
pub(super) fn login_page(
    state: &AppState,
    ctx: Ctx,
    email: String,
    error: Option<String>,
) -> LoginPage {
    LoginPage {
        ctx,
        email,
        error,
        sso_name: state.ops.sso_name().map(str::to_string),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: Zeroizing<String>,
}

async fn login_get(State(state): State<AppState>, visitor: Visitor) -> Response {
    if visitor.ctx.user.is_some() {
        return Redirect::to("/projects").into_response();
    }
    login_page(&state, visitor.ctx, String::new(), None).into_response()
}

/// A wrong password, an unknown email and a disabled account all get the same answer.
async fn login_post(
    State(state): State<AppState>,
    visitor: Visitor,
    Origin(origin): Origin,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let backoff = &state.sign_in_backoff;
    // Checked before the password, whatever it is: a held account costs no hashing.
    if let Some(wait) = backoff.wait(&form.email) {
        let seconds = throttle::wait_seconds(wait);
        let page = login_page(
            &state,
            visitor.ctx,
            form.email,
            Some(format!(
                "Too many failed sign-ins with this email. Wait {seconds} seconds, then try again."
            )),
        );
        let retry = [(header::RETRY_AFTER, seconds.to_string())];
        return Ok((StatusCode::TOO_MANY_REQUESTS, retry, page).into_response());
    }
    let attempt = SignIn {
        email: &form.email,
        password: form.password,
    };
    match ops::sign_in::password_step(&state.ops, attempt, &origin).await {
        Ok(FirstStep::SignedIn(user)) => {
            backoff.succeeded(&form.email);
            signed_in(&state, &visitor, &user).await
        }
        // The password was right: the account's backoff ends; the code is the next step.
        Ok(FirstStep::SecondFactor(user)) => {
            backoff.succeeded(&form.email);
            session::set_pending_sign_in(&visitor.session, &user).await?;
            Ok(Redirect::to("/login/code").into_response())
        }
        Err(OpError::Refused(why)) => {
            backoff.failed(&form.email);
            ops::accounts::note_failed_sign_in(&state.ops, &form.email).await?;
            let page = login_page(&state, visitor.ctx, form.email, Some(why));
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
        // Too many passwords being checked at once: the form again, with the email kept.
        Err(e @ OpError::Overloaded) => {
            let page = login_page(&state, visitor.ctx, form.email, Some(e.message()));
            let retry = [(header::RETRY_AFTER, "5")];
            Ok((StatusCode::SERVICE_UNAVAILABLE, retry, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// Signs `user` in for good (the proof of identity counts from now), and sends them where they
/// go next: to enrol a second factor when the instance requires it of them.
async fn signed_in(
    state: &AppState,
    visitor: &Visitor,
    user: &User,
) -> Result<Response, PageError> {
    session::sign_in(&visitor.session, user).await?;
    if let Some(notice) = ops::accounts::failed_sign_ins_notice(&state.ops, user).await? {
        session::set_notice(&visitor.session, notice).await?;
    }
    if ops::two_factor::must_enrol(&state.ops, user).await? {
        let notice = "This Keyport requires two-factor sign-in: set it up now.";
        session::set_notice(&visitor.session, notice).await?;
        return Ok(Redirect::to("/account/two-factor").into_response());
    }
    Ok(Redirect::to("/projects").into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "login_code.html")]
struct LoginCodePage {
    ctx: Ctx,
    error: Option<String>,
}

#[derive(Deserialize)]
struct LoginCodeForm {
    #[serde(default)]
    code: String,
}

/// The sign-in waiting for its code, while it is fresh; `None` sends the visitor back to the
/// password.
async fn fresh_pending(visitor: &Visitor) -> Result<Option<session::PendingSignIn>, PageError> {
    match session::pending_sign_in(&visitor.session).await? {
        Some(pending) if crate::domain::time::now() - pending.since < PENDING_SECONDS => {
            Ok(Some(pending))
        }
        Some(_) => {
            session::clear_pending_sign_in(&visitor.session).await?;
            Ok(None)
        }
        None => Ok(None),
    }
}

async fn login_code_get(visitor: Visitor) -> Result<Response, PageError> {
    if fresh_pending(&visitor).await?.is_none() {
        return Ok(Redirect::to("/login").into_response());
    }
    Ok(LoginCodePage {
        ctx: visitor.ctx,
        error: None,
    }
    .into_response())
}

async fn login_code_post(
    State(state): State<AppState>,
    visitor: Visitor,
    Origin(origin): Origin,
    Form(form): Form<LoginCodeForm>,
) -> Result<Response, PageError> {
    let Some(mut pending) = fresh_pending(&visitor).await? else {
        session::set_notice(
            &visitor.session,
            "Sign in again: the code was not typed in time.",
        )
        .await?;
        return Ok(Redirect::to("/login").into_response());
    };
    let passed = PasswordPassed {
        user_id: &pending.user_id,
        session_epoch: pending.epoch,
    };
    match ops::sign_in::code_step(&state.ops, passed, &form.code, &origin).await {
        Ok(user) => {
            session::clear_pending_sign_in(&visitor.session).await?;
            signed_in(&state, &visitor, &user).await
        }
        Err(OpError::Refused(why)) => {
            pending.failures += 1;
            if pending.failures >= MAX_CODE_FAILURES {
                session::clear_pending_sign_in(&visitor.session).await?;
                let notice = "Too many wrong codes: sign in again.";
                session::set_notice(&visitor.session, notice).await?;
                return Ok(Redirect::to("/login").into_response());
            }
            session::update_pending_sign_in(&visitor.session, &pending).await?;
            let page = LoginCodePage {
                ctx: visitor.ctx,
                error: Some(why),
            };
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn logout_post(visitor: Visitor) -> Result<Redirect, PageError> {
    session::sign_out(&visitor.session).await?;
    Ok(Redirect::to("/login"))
}

#[derive(Template, WebTemplate)]
#[template(path = "set_password.html")]
struct SetPasswordPage {
    ctx: Ctx,
    email: String,
    token: String,
    errors: FieldErrors,
}

#[derive(Deserialize)]
struct SetPasswordForm {
    #[serde(default)]
    password: Zeroizing<String>,
    #[serde(default)]
    password_confirm: Zeroizing<String>,
}

async fn set_password_get(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(token): Path<String>,
) -> Result<SetPasswordPage, PageError> {
    let user = ops::accounts::open_password_link(&state.ops, &token).await?;
    Ok(SetPasswordPage {
        ctx: visitor.ctx,
        email: user.email,
        token,
        errors: FieldErrors::default(),
    })
}

async fn set_password_post(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(token): Path<String>,
    Form(form): Form<SetPasswordForm>,
) -> Result<Response, PageError> {
    let new = NewPassword {
        password: form.password,
        confirm: form.password_confirm,
    };
    let errors = match ops::accounts::set_password_from_link(&state.ops, &token, new).await {
        Ok(_) => {
            // Whoever was signed in here signs in anew, with the new password if it is theirs.
            session::sign_out(&visitor.session).await?;
            session::set_notice(
                &visitor.session,
                "Your password is set. Sign in with your email and the new password.",
            )
            .await?;
            return Ok(Redirect::to("/login").into_response());
        }
        Err(OpError::Invalid(errors)) => errors,
        Err(e) => return Err(e.into()),
    };
    let user = ops::accounts::open_password_link(&state.ops, &token).await?;
    let page = SetPasswordPage {
        ctx: visitor.ctx,
        email: user.email,
        token,
        errors,
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// Around the throttle of the password forms: a sign-in it refused (429, before any handler
/// ran, so no email is known) goes to the instance audit log.
pub(super) async fn audit_throttled_sign_in(
    State(state): State<AppState>,
    Origin(origin): Origin,
    request: Request,
    next: Next,
) -> Response {
    let sign_in = request.method() == Method::POST
        && matches!(request.uri().path(), "/login" | "/login/code");
    let response = next.run(request).await;
    if sign_in
        && response.status() == StatusCode::TOO_MANY_REQUESTS
        && let Err(e) = ops::audit::sign_in_throttled(&state.ops, &origin, "").await
    {
        tracing::warn!(error = %e, "could not record a throttled sign-in");
    }
    response
}
