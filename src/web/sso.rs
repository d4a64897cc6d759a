//! Single sign-on in the browser: "Sign in with ..." sends the visitor to the provider, which
//! sends them back to the callback; "Confirm with ..." does the same for a step-up. What the
//! round trip needs (state, nonce, PKCE verifier) stays in the server-side session, so that any
//! process of the portal finishes what another started. The provider's back-channel logout
//! arrives outside the session and CSRF layers (it is a server's POST, its token its proof).

use axum::{
    Form, Router,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;

use super::{
    AppState, PageError,
    auth::login_page,
    extract::{Origin, SignedIn, Visitor},
    session,
    step_up::same_site_path,
};
use crate::ops::{
    self, OpError,
    sso::{Answer, Finished},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/sso", get(sso_get))
        .route("/login/sso/callback", get(sso_callback_get))
        .route("/confirm-identity/sso", get(confirm_identity_sso_get))
}

/// The provider's back-channel logout, without session or CSRF.
pub fn back_channel_router() -> Router<AppState> {
    Router::new().route("/login/sso/logout", post(back_channel_logout_post))
}

/// Starts a sign-in at the provider.
async fn sso_get(State(state): State<AppState>, visitor: Visitor) -> Result<Response, PageError> {
    if visitor.ctx.user.is_some() {
        return Ok(Redirect::to("/projects").into_response());
    }
    match ops::sso::begin(&state.ops, None).await {
        Ok((url, pending)) => {
            session::set_sso_pending(&visitor.session, &pending, None).await?;
            Ok(Redirect::to(&url).into_response())
        }
        Err(OpError::Refused(why)) => Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            login_page(&state, visitor.ctx, String::new(), Some(why)),
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

/// Starts a step-up at the provider: it must ask the user to sign in again.
async fn confirm_identity_sso_get(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<NextQuery>,
) -> Result<Response, PageError> {
    let next = same_site_path(&query.next).to_string();
    let (url, pending) = ops::sso::begin(&state.ops, Some(&signed_in.user)).await?;
    session::set_sso_pending(&signed_in.session, &pending, Some(&next)).await?;
    Ok(Redirect::to(&url).into_response())
}

/// Where the provider sends the browser back: the sign-in (or step-up) is finished, or refused
/// on the sign-in page with the reason.
async fn sso_callback_get(
    State(state): State<AppState>,
    visitor: Visitor,
    Origin(origin): Origin,
    Query(answer): Query<Answer>,
) -> Result<Response, PageError> {
    let (pending, next) = session::take_sso_pending(&visitor.session).await?;
    let stepping_up = pending
        .as_ref()
        .and_then(|p| p.step_up_user())
        .map(str::to_string);
    if let Some(user_id) = &stepping_up
        && visitor.ctx.user.as_ref().map(|u| &u.id) != Some(user_id)
    {
        session::set_notice(
            &visitor.session,
            "Sign in again: the confirmation was started by another session.",
        )
        .await?;
        return Ok(Redirect::to("/login").into_response());
    }
    match ops::sso::finish(&state.ops, pending, answer, &origin).await {
        // The provider's authentication (and its own second factor) is the proof: Keyport's
        // code is neither asked nor enrolled for (docs/security.md).
        Ok(Finished::SignedIn(user)) => {
            session::sign_in(&visitor.session, &user).await?;
            Ok(Redirect::to("/projects").into_response())
        }
        Ok(Finished::SteppedUp { grant, .. }) => {
            session::record_step_up(&visitor.session, grant).await?;
            session::set_notice(
                &visitor.session,
                "Identity confirmed: press the button again.",
            )
            .await?;
            let next = next.unwrap_or_default();
            Ok(Redirect::to(same_site_path(&next)).into_response())
        }
        Err(OpError::Refused(why)) if stepping_up.is_some() => {
            session::set_notice(
                &visitor.session,
                format!("Your identity was not confirmed: {why}"),
            )
            .await?;
            Ok(Redirect::to(same_site_path(&next.unwrap_or_default())).into_response())
        }
        Err(OpError::Refused(why)) => Ok((
            StatusCode::UNAUTHORIZED,
            login_page(&state, visitor.ctx, String::new(), Some(why)),
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    logout_token: String,
}

/// The provider tells that a user's session there ended: theirs here end too. 200 when done,
/// 400 with the reason when the token is not believed (Back-Channel Logout 1.0, 2.8).
async fn back_channel_logout_post(
    State(state): State<AppState>,
    Form(form): Form<LogoutForm>,
) -> Response {
    let no_store = [(axum::http::header::CACHE_CONTROL, "no-store")];
    match ops::sso::back_channel_logout(&state.ops, &form.logout_token).await {
        Ok(()) => (StatusCode::OK, no_store).into_response(),
        Err(OpError::Refused(why)) => {
            tracing::warn!(reason = %why, "a back-channel logout was refused");
            let body = serde_json::json!({"error": "invalid_request", "error_description": why});
            (StatusCode::BAD_REQUEST, no_store, axum::Json(body)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "a back-channel logout failed");
            (StatusCode::INTERNAL_SERVER_ERROR, no_store).into_response()
        }
    }
}
