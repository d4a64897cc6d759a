//! `/account`: the signed-in user changes their own password (their other sessions end), and
//! turns two-factor sign-in on (a QR code, a first code, ten recovery codes) or off.

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

use super::{
    AppState, PageError,
    extract::{Origin, SignedIn},
    forms::FieldErrors,
    session,
    view::Ctx,
};
use crate::ops::{
    self, OpError,
    accounts::{NewPassword, PasswordChange},
    two_factor::{Enrolment, Status},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(account_get))
        .route("/account/password", post(password_post))
        .route("/account/two-factor", get(two_factor_get))
        .route("/account/two-factor/start", post(two_factor_start_post))
        .route("/account/two-factor/confirm", post(two_factor_confirm_post))
        .route("/account/two-factor/disable", post(two_factor_disable_post))
}

#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
struct AccountPage {
    ctx: Ctx,
    two_factor: Status,
    errors: FieldErrors,
}

impl AccountPage {
    async fn new(
        state: &AppState,
        signed_in: SignedIn,
        errors: FieldErrors,
    ) -> Result<Self, PageError> {
        Ok(AccountPage {
            two_factor: ops::two_factor::status(&state.ops, &signed_in.user).await?,
            ctx: signed_in.ctx,
            errors,
        })
    }
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

async fn account_get(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<AccountPage, PageError> {
    AccountPage::new(&state, signed_in, FieldErrors::default()).await
}

async fn password_post(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    let change = PasswordChange {
        current: form.current_password,
        new: NewPassword {
            password: form.new_password,
            confirm: form.new_password_confirm,
        },
    };
    // This session stays; the others end.
    let keep = signed_in.session.id().map(|id| id.to_string());
    let changed =
        ops::accounts::change_password(&state.ops, &signed_in.user, change, keep.as_deref());
    let epoch = match changed.await {
        Ok(epoch) => epoch,
        Err(OpError::Invalid(errors)) => {
            let page = AccountPage::new(&state, signed_in, errors).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    let session = signed_in.session;
    session::renew_epoch(&session, epoch).await?;
    session.cycle_id().await?;
    // The current password was just typed: a proof of identity, as at sign-in.
    session::record_proof(&session).await?;
    let notice = "Your password was changed. You were signed out everywhere else.";
    session::set_notice(&session, notice).await?;
    Ok(Redirect::to("/account").into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "two_factor.html")]
struct TwoFactorPage {
    ctx: Ctx,
    /// The enrolment waiting for its first code, if one was started.
    enrolment: Option<Enrolment>,
    required: bool,
    errors: FieldErrors,
}

#[derive(Template, WebTemplate)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage {
    ctx: Ctx,
    codes: Vec<String>,
}

/// Enrolment: a button to start, then the QR code, the secret as text and the first code.
async fn two_factor_get(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let status = ops::two_factor::status(&state.ops, &signed_in.user).await?;
    if status.enrolled {
        return Ok(Redirect::to("/account").into_response());
    }
    Ok(TwoFactorPage {
        enrolment: ops::two_factor::pending(
            &state.ops,
            &signed_in.user,
            &session::id(&signed_in.session),
        )
        .await?,
        required: status.required,
        ctx: signed_in.ctx,
        errors: FieldErrors::default(),
    }
    .into_response())
}

async fn two_factor_start_post(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Redirect, PageError> {
    let freshness = session::freshness(&signed_in.session, &signed_in.user).await?;
    match ops::two_factor::start(
        &state.ops,
        &signed_in.user,
        &freshness,
        &session::id(&signed_in.session),
    )
    .await
    {
        Ok(()) => Ok(Redirect::to("/account/two-factor")),
        Err(OpError::Refused(why)) => {
            session::set_notice(&signed_in.session, why).await?;
            Ok(Redirect::to("/account"))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
}

async fn two_factor_confirm_post(
    State(state): State<AppState>,
    signed_in: SignedIn,
    origin: Origin,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    let actor = origin.by(&signed_in.user);
    match ops::two_factor::confirm(
        &state.ops,
        &signed_in.user,
        &actor,
        &form.code,
        &session::id(&signed_in.session),
    )
    .await
    {
        // Shown once, in this answer; only their hashes are kept.
        Ok(codes) => Ok(RecoveryCodesPage {
            ctx: signed_in.ctx,
            codes: codes.0,
        }
        .into_response()),
        Err(OpError::Invalid(errors)) => {
            let status = ops::two_factor::status(&state.ops, &signed_in.user).await?;
            let page = TwoFactorPage {
                enrolment: ops::two_factor::pending(
                    &state.ops,
                    &signed_in.user,
                    &session::id(&signed_in.session),
                )
                .await?,
                required: status.required,
                ctx: signed_in.ctx,
                errors,
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(OpError::Refused(why)) => {
            session::set_notice(&signed_in.session, why).await?;
            Ok(Redirect::to("/account").into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct DisableForm {
    #[serde(default)]
    password: Zeroizing<String>,
}

async fn two_factor_disable_post(
    State(state): State<AppState>,
    signed_in: SignedIn,
    origin: Origin,
    Form(form): Form<DisableForm>,
) -> Result<Response, PageError> {
    let actor = origin.by(&signed_in.user);
    match ops::two_factor::disable(&state.ops, &signed_in.user, &actor, form.password).await {
        Ok(()) => {
            let notice = "Two-factor sign-in is off: your password alone signs you in.";
            session::set_notice(&signed_in.session, notice).await?;
            Ok(Redirect::to("/account").into_response())
        }
        Err(OpError::Invalid(errors)) => {
            let page = AccountPage::new(&state, signed_in, errors).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
