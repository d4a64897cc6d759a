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
use crate::ops::{
    self, OpError,
    accounts::{NewPassword, PasswordChange},
};

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
    let change = PasswordChange {
        current: form.current_password,
        new: NewPassword {
            password: form.new_password,
            confirm: form.new_password_confirm,
        },
    };
    // This session stays; the others end.
    let keep = session.id().map(|id| id.to_string());
    let changed = ops::accounts::change_password(&state.ops, &user, change, keep.as_deref());
    let epoch = match changed.await {
        Ok(epoch) => epoch,
        Err(OpError::Invalid(errors)) => {
            let page = AccountPage { ctx, errors };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    session::renew_epoch(&session, epoch).await?;
    session.cycle_id().await?;
    let notice = "Your password was changed. You were signed out everywhere else.";
    session::set_notice(&session, notice).await?;
    Ok(Redirect::to("/account").into_response())
}
