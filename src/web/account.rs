//! `/account`: the signed-in user changes their own password; their other sessions end.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{AppState, PageError, extract::SignedIn, forms::FieldErrors, session, view::Ctx};
use crate::{crypto::password, db, domain::validate};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(account_get))
        .route("/account/password", post(password_post))
}

#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
struct AccountPage {
    ctx: Ctx,
    errors: FieldErrors,
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: Zeroizing<String>,
    #[serde(default)]
    new_password: Zeroizing<String>,
    #[serde(default)]
    new_password_confirm: Zeroizing<String>,
}

async fn account_get(signed_in: SignedIn) -> AccountPage {
    AccountPage {
        ctx: signed_in.ctx,
        errors: FieldErrors::default(),
    }
}

async fn password_post(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    let SignedIn { user, session, ctx } = signed_in;
    let mut errors = FieldErrors::default();
    let stored = db::users::password_hash(&state.db, &user.id).await?;
    if !password::verify(form.current_password, stored).await {
        errors.add("current_password", "This is not your current password.");
    }
    if let Err(message) = validate::new_password(&form.new_password, &form.new_password_confirm) {
        errors.add("new_password", message);
    }
    if !errors.is_empty() {
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            AccountPage { ctx, errors },
        )
            .into_response());
    }
    let hash = password::hash(form.new_password).await?;
    let keep = session.id().map(|id| id.to_string());
    db::users::set_password(&state.db, &user.id, &hash, keep.as_deref()).await?;
    session::renew_epoch(&session, user.session_epoch + 1).await?;
    session.cycle_id().await?;
    tracing::info!(user = %user.id, "password changed; other sessions ended");
    session::set_notice(
        &session,
        "Your password was changed. You were signed out everywhere else.",
    )
    .await?;
    Ok(Redirect::to("/account").into_response())
}
