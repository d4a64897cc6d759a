//! Signing in and out, and the one-time set-password links.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{
    AppState, PageError, extract::Visitor, forms::FieldErrors, session, throttle, view::Ctx,
};
use crate::ops::{
    self, OpError,
    accounts::{NewPassword, SignIn},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home_get))
        .route("/login", get(login_get).post(login_post))
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
struct LoginPage {
    ctx: Ctx,
    email: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: Zeroizing<String>,
}

async fn login_get(visitor: Visitor) -> Response {
    if visitor.ctx.user.is_some() {
        return Redirect::to("/projects").into_response();
    }
    LoginPage {
        ctx: visitor.ctx,
        email: String::new(),
        error: None,
    }
    .into_response()
}

/// A wrong password, an unknown email and a disabled account all get the same answer.
async fn login_post(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let backoff = &state.sign_in_backoff;
    // Checked before the password, whatever it is: a held account costs no hashing.
    if let Some(wait) = backoff.wait(&form.email) {
        let seconds = throttle::wait_seconds(wait);
        let page = LoginPage {
            ctx: visitor.ctx,
            email: form.email,
            error: Some(format!(
                "Too many failed sign-ins with this email. Wait {seconds} seconds, then try again."
            )),
        };
        let retry = [(header::RETRY_AFTER, seconds.to_string())];
        return Ok((StatusCode::TOO_MANY_REQUESTS, retry, page).into_response());
    }
    let attempt = SignIn {
        email: &form.email,
        password: form.password,
    };
    match ops::accounts::sign_in(&state.ops, attempt).await {
        Ok(user) => {
            backoff.succeeded(&form.email);
            session::sign_in(&visitor.session, &user).await?;
            if let Some(notice) = ops::accounts::failed_sign_ins_notice(&state.ops, &user).await? {
                session::set_notice(&visitor.session, notice).await?;
            }
            Ok(Redirect::to("/projects").into_response())
        }
        Err(OpError::Refused(why)) => {
            backoff.failed(&form.email);
            ops::accounts::note_failed_sign_in(&state.ops, &form.email).await?;
            let page = LoginPage {
                ctx: visitor.ctx,
                email: form.email,
                error: Some(why),
            };
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
        // Too many passwords being checked at once: the form again, with the email kept.
        Err(e @ OpError::Overloaded) => {
            let page = LoginPage {
                ctx: visitor.ctx,
                email: form.email,
                error: Some(e.message()),
            };
            let retry = [(header::RETRY_AFTER, "5")];
            Ok((StatusCode::SERVICE_UNAVAILABLE, retry, page).into_response())
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
