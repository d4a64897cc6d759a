//! Step-up in the browser, as GitHub's sudo mode. The rule is the operations' (`ops::step_up`):
//! revealing, copying or downloading a secret, Regenerate, Delete, a new API key (a member's or
//! an app's: a way in that reveals every credential its holder may see) and a new authenticator
//! ask for a recent proof, from the session's last one (`KEYPORT_STEP_UP_MINUTES`) or the grant
//! a step-up left. Here the pages give the session's proof to the operations, and
//! [`ask_for_proof`] turns their refusal into `/confirm-identity`, which keeps the page to go back
//! to (a path of this site only) and asks for the password again (or a code of the user's app).

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::{Query, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{
    AppState, PageError,
    error::StepUpAsked,
    extract::{Origin, SignedIn},
    forms::FieldErrors,
    session,
    view::Ctx,
};
use crate::ops::{self, OpError, step_up::Proof};

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/confirm-identity",
        get(confirm_identity_get).post(confirm_identity_post),
    )
}

/// Turns the answer of an operation that asked for a recent proof of identity
/// (`PageError::StepUpRequired`) into the way to `/confirm-identity`, which leads back to the
/// page of the button. Nothing was done: after the proof the user presses the button again; a
/// POST is never replayed.
pub async fn ask_for_proof(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    if response.extensions().get::<StepUpAsked>().is_some() {
        return Redirect::to(&confirm_url(&return_page(&path))).into_response();
    }
    response
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
        ["projects", slug, "members", ..] => format!("/projects/{slug}/members"),
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
    /// The single sign-on provider's name, when the user signs in there: it confirms instead.
    sso_name: Option<String>,
    /// Whether the password form is shown: not to a user who has none.
    password_form: bool,
}

/// The provider's name when `user` confirms their identity there.
async fn sso_name(state: &AppState, user: &ops::User) -> Result<Option<String>, PageError> {
    Ok(if ops::sso::signs_in_with_sso(&state.ops, user).await? {
        state.ops.sso_name().map(str::to_string)
    } else {
        None
    })
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
        sso_name: sso_name(&state, &signed_in.user).await?,
        password_form: signed_in.user.has_password,
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
        Ok(grant) => {
            session::record_step_up(&session, grant).await?;
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
            let sso_name = sso_name(&state, &user).await?;
            let page = ConfirmIdentityPage {
                ctx,
                next,
                enrolled,
                errors,
                sso_name,
                password_form: user.has_password,
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
