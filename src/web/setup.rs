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
use crate::ops::{
    self, OpError,
    accounts::{FirstAdmin, NewPassword},
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
    ops::accounts::setup_open(&state.ops).await?;
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
    let first = FirstAdmin {
        email: &form.email,
        name: &form.name,
        password: NewPassword {
            password: form.password,
            confirm: form.password_confirm,
        },
    };
    let errors = match ops::accounts::set_up(&state.ops, first).await {
        Ok(admin) => {
            session::sign_in(&visitor.session, &admin).await?;
            let welcome = "Welcome to Keyport. Create a project for your team to begin.";
            session::set_notice(&visitor.session, welcome).await?;
            return Ok(Redirect::to("/projects").into_response());
        }
        Err(OpError::Invalid(errors)) => errors,
        Err(e) => return Err(e.into()),
    };
    let page = SetupPage {
        ctx: visitor.ctx,
        email: form.email,
        name: form.name,
        errors,
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}
