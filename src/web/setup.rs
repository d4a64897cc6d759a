//! `/setup`: creates the first instance admin, once.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{AppState, PageError, extract::Visitor, forms::FieldErrors, session, view::Ctx};
use crate::{
    crypto::password,
    db::{self, settings, users::NewUser},
    domain::validate,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/setup", get(setup_get).post(setup_post))
}

#[derive(Template, WebTemplate)]
#[template(path = "setup.html")]
struct SetupPage {
    ctx: Ctx,
    email: String,
    name: String,
    errors: FieldErrors,
}

#[derive(Deserialize)]
struct SetupForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: Zeroizing<String>,
    #[serde(default)]
    password_confirm: Zeroizing<String>,
}

async fn setup_get(
    State(state): State<AppState>,
    visitor: Visitor,
) -> Result<SetupPage, PageError> {
    if state.setup_done().await? {
        return Err(PageError::NotFound);
    }
    Ok(SetupPage {
        ctx: visitor.ctx,
        email: String::new(),
        name: String::new(),
        errors: FieldErrors::default(),
    })
}

async fn setup_post(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<SetupForm>,
) -> Result<Response, PageError> {
    if state.setup_done().await? {
        return Err(PageError::NotFound);
    }
    let mut errors = FieldErrors::default();
    let email = errors.check("email", validate::email(&form.email));
    let name = errors.check("name", validate::person_name(&form.name));
    if let Err(message) = validate::new_password(&form.password, &form.password_confirm) {
        errors.add("password", message);
    }
    if !errors.is_empty() {
        let page = SetupPage {
            ctx: visitor.ctx,
            email: form.email,
            name: form.name,
            errors,
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }

    let hash = password::hash(form.password).await?;
    // The setup marker and the admin are written together; a second, concurrent setup fails on
    // the marker's unique key and writes nothing.
    let mut tx = state.db.pool().begin().await?;
    if let Err(e) = settings::insert(&mut *tx, settings::SETUP_DONE, &db::now().to_string()).await {
        return Err(if db::is_unique_violation(&e) {
            PageError::NotFound
        } else {
            e.into()
        });
    }
    let new = NewUser {
        email: &email,
        name: &name,
        password_hash: Some(&hash),
        is_admin: true,
    };
    let user = db::users::create(&mut *tx, new)
        .await
        .map_err(anyhow::Error::from)?;
    tx.commit().await?;
    tracing::info!(user = %user.id, "first instance admin created");

    session::sign_in(&visitor.session, &user).await?;
    session::set_notice(
        &visitor.session,
        "Welcome to Keyport. Create a project for your team to begin.",
    )
    .await?;
    Ok(Redirect::to("/projects").into_response())
}
