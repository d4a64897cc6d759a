//! Signing in and out, and the one-time set-password links.

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
use zeroize::Zeroizing;

use super::{AppState, PageError, extract::Visitor, forms::FieldErrors, session, view::Ctx};
use crate::{
    crypto::{password, sha256_hex},
    db,
    domain::validate,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home_get))
        .route("/login", get(login_get).post(login_post))
        .route("/logout", post(logout_post))
        .route(
            "/set-password/{token}",
            get(set_password_get).post(set_password_post),
        )
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
    error: Option<&'static str>,
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

/// A wrong password, an unknown email and a disabled account all get the same answer, after the
/// same argon2 work.
async fn login_post(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let email = form.email.trim().to_lowercase();
    let found = if email.is_empty() || email.len() > 254 {
        None
    } else {
        db::users::find_for_login(&state.db, &email).await?
    };
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let password_ok = password::verify(form.password, hash).await;
    match user {
        Some(user) if password_ok && !user.disabled => {
            session::sign_in(&visitor.session, &user).await?;
            tracing::info!(user = %user.id, "signed in");
            Ok(Redirect::to("/projects").into_response())
        }
        _ => {
            tracing::info!("sign-in refused");
            let page = LoginPage {
                ctx: visitor.ctx,
                email: form.email,
                error: Some("The email or the password is wrong."),
            };
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
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

const LINK_GONE: &str = "This link is not valid: it was already used, has expired, or was replaced by a newer one. Ask an administrator for a new link.";

async fn set_password_get(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let Some(user) = db::users::find_by_password_link(&state.db, &sha256_hex(&token)).await? else {
        return Ok(PageError::Forbidden(LINK_GONE).into_response());
    };
    let page = SetPasswordPage {
        ctx: visitor.ctx,
        email: user.email,
        token,
        errors: FieldErrors::default(),
    };
    Ok(page.into_response())
}

async fn set_password_post(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(token): Path<String>,
    Form(form): Form<SetPasswordForm>,
) -> Result<Response, PageError> {
    let token_hash = sha256_hex(&token);
    let Some(user) = db::users::find_by_password_link(&state.db, &token_hash).await? else {
        return Ok(PageError::Forbidden(LINK_GONE).into_response());
    };
    if let Err(message) = validate::new_password(&form.password, &form.password_confirm) {
        let mut errors = FieldErrors::default();
        errors.add("password", message);
        let page = SetPasswordPage {
            ctx: visitor.ctx,
            email: user.email,
            token,
            errors,
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let hash = password::hash(form.password).await?;
    if !db::users::use_password_link(&state.db, &token_hash, &hash).await? {
        return Ok(PageError::Forbidden(LINK_GONE).into_response());
    }
    tracing::info!(user = %user.id, "password set from a link");
    session::sign_out(&visitor.session).await?;
    Ok(Redirect::to("/login").into_response())
}
