//! Step-up before secrets, as GitHub's sudo mode: revealing, copying or downloading a secret,
//! Regenerate and Delete ask for the password again (or a code of the user's authenticator app)
//! when the last proof of identity is older than `KEYPORT_STEP_UP_MINUTES`.
//!
//! The guarded handlers are those that take [`RecentProof`]:
//! - `POST /projects/{slug}/credentials/{id}/reveal` (Show)
//! - `POST /projects/{slug}/credentials/{id}/config` (Copy and Download of a configuration)
//! - `POST /projects/{slug}/credentials/{id}/regenerate`
//! - `POST /projects/{slug}/credentials/{id}/delete`
//! - `POST /account/api-access/keys` and `POST /projects/{slug}/apps/{id}/keys`: a new API key
//!   is a way in that reveals every credential its holder may see
//! - `POST /account/two-factor/start`: a new authenticator
//!
//! Without a recent proof the POST is not carried out: it leads to `/confirm-identity`, which
//! keeps the page to go back to (a path of this site only). After the proof the user is back on
//! that page and presses the button again; a POST is never replayed. The JSON API (bearer
//! tokens) does not pass here.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::{FromRequestParts, Query, State},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;
use tower_sessions::Session;
use zeroize::Zeroizing;

use super::{
    AppState, PageError,
    extract::{Origin, SignedIn},
    forms::FieldErrors,
    session,
    view::Ctx,
};
use crate::ops::{self, OpError, step_up::Proof};

/// How long after a step-up the one action it was asked for may still follow, when the window
/// is zero ("ask every time").
const GRANT_SECONDS: i64 = 300;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/confirm-identity",
        get(confirm_identity_get).post(confirm_identity_post),
    )
}

/// Succeeds when the signed-in user proved who they are recently enough; otherwise the request
/// is answered with the way to `/confirm-identity`. Put it after the extractor that finds the
/// user and the project, so that what they may not see still answers 404.
pub struct RecentProof;

impl FromRequestParts<AppState> for RecentProof {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                PageError::Internal(anyhow::anyhow!("session layer missing")).into_response()
            })?;
        let window = i64::from(state.config.step_up_minutes) * 60;
        match proven(&session, window).await {
            Ok(true) => Ok(RecentProof),
            Ok(false) => {
                let back = return_page(parts.uri.path());
                Err(Redirect::to(&confirm_url(&back)).into_response())
            }
            Err(e) => Err(e.into_response()),
        }
    }
}

/// Whether the session's last proof is inside the window, or a step-up just allowed one action.
async fn proven(session: &Session, window: i64) -> Result<bool, PageError> {
    let Some(proved_at) = session::last_proof(session).await? else {
        return Ok(false);
    };
    let age = crate::domain::time::now() - proved_at;
    if window > 0 && age < window {
        return Ok(true);
    }
    Ok(age < GRANT_SECONDS && session::take_step_up_grant(session).await?)
}

/// The page where the guarded action's button is: a credential's confirmation page for
/// Regenerate and Delete, the project's credentials for Show, Copy and Download.
fn return_page(path: &str) -> String {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        [
            "projects",
            slug,
            "credentials",
            id,
            action @ ("regenerate" | "delete"),
        ] => {
            format!("/projects/{slug}/credentials/{id}/{action}")
        }
        ["projects", slug, "credentials", ..] => format!("/projects/{slug}/credentials"),
        ["projects", slug, "apps", id, "keys"] => format!("/projects/{slug}/apps/{id}"),
        ["account", "api-access", ..] => "/account/api-access".to_string(),
        ["account", ..] => "/account".to_string(),
        _ => "/projects".to_string(),
    }
}

fn confirm_url(back: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("next", back)
        .finish();
    format!("/confirm-identity?{query}")
}

/// `next` when it is a path of this site, else the projects page: never an open redirect.
pub fn same_site_path(next: &str) -> &str {
    let safe = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next.len() <= 1024;
    if safe { next } else { "/projects" }
}

#[derive(Template, WebTemplate)]
#[template(path = "confirm_identity.html")]
struct ConfirmIdentityPage {
    ctx: Ctx,
    next: String,
    /// Whether a code of the user's app is accepted instead of the password.
    enrolled: bool,
    errors: FieldErrors,
}

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

async fn confirm_identity_get(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<NextQuery>,
) -> Result<ConfirmIdentityPage, PageError> {
    let status = ops::two_factor::status(&state.ops, &signed_in.user).await?;
    Ok(ConfirmIdentityPage {
        ctx: signed_in.ctx,
        next: same_site_path(&query.next).to_string(),
        enrolled: status.enrolled,
        errors: FieldErrors::default(),
    })
}

#[derive(Deserialize)]
struct ConfirmIdentityForm {
    #[serde(default)]
    next: String,
    #[serde(default)]
    password: Zeroizing<String>,
    #[serde(default)]
    code: String,
}

async fn confirm_identity_post(
    State(state): State<AppState>,
    signed_in: SignedIn,
    origin: Origin,
    Form(form): Form<ConfirmIdentityForm>,
) -> Result<Response, PageError> {
    let SignedIn { user, session, ctx } = signed_in;
    let next = same_site_path(&form.next).to_string();
    let proof = Proof {
        password: form.password,
        code: form.code,
    };
    match ops::step_up::step_up(&state.ops, &user, &origin.by(&user), proof).await {
        Ok(()) => {
            session::record_step_up(&session).await?;
            let notice = match state.config.step_up_minutes {
                0 => "Identity confirmed: press the button again.".to_string(),
                minutes => format!(
                    "Identity confirmed: press the button again. Keyport will not ask again for {minutes} minutes."
                ),
            };
            session::set_notice(&session, notice).await?;
            Ok(Redirect::to(&next).into_response())
        }
        Err(OpError::Invalid(errors)) => {
            let enrolled = ops::two_factor::status(&state.ops, &user).await?.enrolled;
            let page = ConfirmIdentityPage {
                ctx,
                next,
                enrolled,
                errors,
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_are_followed() {
        assert_eq!(
            same_site_path("/projects/team/credentials"),
            "/projects/team/credentials"
        );
        for outside in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil.example",
            "",
            "/x\r\nLocation: https://evil.example",
        ] {
            assert_eq!(same_site_path(outside), "/projects", "{outside:?}");
        }
    }

    #[test]
    fn returns_to_the_page_of_the_button() {
        assert_eq!(
            return_page("/projects/team/credentials/c1/regenerate"),
            "/projects/team/credentials/c1/regenerate"
        );
        assert_eq!(
            return_page("/projects/team/credentials/c1/reveal"),
            "/projects/team/credentials"
        );
        assert_eq!(return_page("/elsewhere"), "/projects");
    }
}
