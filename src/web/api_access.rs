//! `/account/api-access`: what a program needs to reach Keyport (the token URL, the JWKS, the
//! API and its OpenAPI document, the member's projects, a curl example) and the member's
//! personal API keys: create (the key shown once), enable, disable, delete. The key list, the
//! create form and the `.env` download are shared with an app's page (`apps.rs`).

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::{FromRequestParts, Path, State},
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use tower_sessions::Session;
use zeroize::Zeroizing;

use super::{
    AppState, PageError,
    confirm::ConfirmPage,
    extract::SignedIn,
    forms::FieldErrors,
    session,
    view::{Ctx, UnixTime},
};
use crate::{
    domain::roles::Role,
    ops::{
        self, Actor, ApiKey, OpError, Project, User,
        api_keys::{Change, Created, KEY_PREFIX, NewKey},
    },
};

const PAGE: &str = "/account/api-access";
const KEYS: &str = "/account/api-access/keys";
const DOWNLOAD: &str = "/account/api-access/download";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(PAGE, get(api_access_get))
        .route(KEYS, post(api_key_create_post))
        .route(
            "/account/api-access/keys/{id}/enable",
            post(api_key_enable_post),
        )
        .route(
            "/account/api-access/keys/{id}/disable",
            post(api_key_disable_post),
        )
        .route(
            "/account/api-access/keys/{id}/delete",
            get(api_key_delete_get).post(api_key_delete_post),
        )
        .route(DOWNLOAD, post(key_download_post))
}

/// The signed-in user with the audit log's name for them: personal keys are not a project's,
/// so no `ProjectMember` carries the actor here.
struct Account {
    user: User,
    session: Session,
    ctx: Ctx,
    actor: Actor,
}

impl FromRequestParts<AppState> for Account {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let SignedIn { user, session, ctx } = SignedIn::from_request_parts(parts, state).await?;
        let actor = crate::origin::actor(parts, &user);
        Ok(Account {
            user,
            session,
            ctx,
            actor,
        })
    }
}

/// Where programs reach Keyport.
struct Urls {
    public: String,
    token: String,
    jwks: String,
    api: String,
    openapi: String,
}

impl Urls {
    fn new(state: &AppState) -> Self {
        let public = state.config.public_url();
        Urls {
            token: format!("{public}/identity/token"),
            jwks: format!("{public}/identity/keys"),
            api: format!("{public}/api/v1"),
            openapi: format!("{public}/api/v1/openapi.json"),
            public,
        }
    }
}

/// A row of a key list.
pub(super) struct KeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub description: String,
    pub created_at: i64,
    pub created_by: String,
    pub expires_at: Option<i64>,
    pub expired: bool,
    pub last_used_at: Option<i64>,
    pub last_used_ip: String,
    pub enabled: bool,
    /// What the Delete dialog says.
    pub delete_warning: String,
}

impl KeyRow {
    pub(super) fn all(keys: Vec<ApiKey>) -> Vec<KeyRow> {
        let now = crate::domain::time::now();
        keys.into_iter()
            .map(|key| KeyRow {
                expired: key.expires_at.is_some_and(|at| at <= now),
                delete_warning: delete_warning(&key.name, &key.prefix),
                id: key.id,
                name: key.name,
                prefix: key.prefix,
                description: key.description,
                created_at: key.created_at,
                created_by: key.created_by,
                expires_at: key.expires_at,
                last_used_at: key.last_used_at,
                last_used_ip: key.last_used_ip,
                enabled: key.enabled,
            })
            .collect()
    }
}

/// A key just made, for the one answer that shows it.
pub(super) struct ShownKey {
    pub name: String,
    pub secret: Zeroizing<String>,
    /// Where its `.env` file is made (see [`key_download_post`]).
    pub download: &'static str,
}

impl From<Created> for ShownKey {
    fn from(created: Created) -> Self {
        ShownKey {
            name: created.key.name,
            secret: created.secret,
            download: DOWNLOAD,
        }
    }
}

/// The create-key form as typed, kept when it is shown again with its errors.
#[derive(Deserialize, Default)]
pub(super) struct KeyForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub expires: String,
}

impl KeyForm {
    pub(super) fn new_key(&self) -> NewKey {
        NewKey {
            name: self.name.clone(),
            description: self.description.clone(),
            expires: self.expires.clone(),
        }
    }
}

/// A Delete POST needs `confirm=yes`; without it, it leads to the confirmation page.
#[derive(Deserialize)]
pub(super) struct ConfirmForm {
    #[serde(default)]
    confirm: String,
}

impl ConfirmForm {
    /// Without `confirm=yes`: the way to the confirmation page at `page`.
    pub(super) fn unconfirmed(&self, page: &str) -> Option<Response> {
        (self.confirm != "yes").then(|| Redirect::to(page).into_response())
    }
}

/// What the confirmation of a key's deletion says.
pub(super) fn delete_warning(name: &str, prefix: &str) -> String {
    format!(
        "Programs using {name} ({prefix}…) stop working at once: the key can no longer be \
         exchanged and its access tokens are refused. This cannot be undone; disable the key \
         instead to stop it for a while."
    )
}

/// What an enable or disable tells on the page.
pub(super) fn change_notice(name: &str, change: Change) -> String {
    match change {
        Change::Enable => format!("API key {name} enabled: it can be exchanged again."),
        Change::Disable => format!(
            "API key {name} disabled: it cannot be exchanged and its access tokens are refused."
        ),
        Change::Delete => format!("API key {name} deleted."),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "api_access.html")]
struct ApiAccessPage {
    ctx: Ctx,
    urls: Urls,
    projects: Vec<(Project, Role)>,
    keys: Vec<KeyRow>,
    keys_url: &'static str,
    created: Option<ShownKey>,
    form: KeyForm,
    errors: FieldErrors,
}

impl ApiAccessPage {
    async fn build(state: &AppState, account: Account) -> Result<Self, PageError> {
        let projects = ops::projects::list(&state.ops, &account.user).await?;
        let keys = ops::api_keys::list_personal(&state.ops, &account.user).await?;
        Ok(ApiAccessPage {
            ctx: account.ctx,
            urls: Urls::new(state),
            projects,
            keys: KeyRow::all(keys),
            keys_url: KEYS,
            created: None,
            form: KeyForm::default(),
            errors: FieldErrors::default(),
        })
    }
}

async fn api_access_get(
    State(state): State<AppState>,
    account: Account,
) -> Result<ApiAccessPage, PageError> {
    ApiAccessPage::build(&state, account).await
}

/// Creates a personal key and answers with the page that shows it, this once: a redirect would
/// have to keep the key somewhere until the next GET, and Keyport keeps it nowhere.
async fn api_key_create_post(
    State(state): State<AppState>,
    account: Account,
    Form(form): Form<KeyForm>,
) -> Result<Response, PageError> {
    let freshness = session::freshness(&account.session, &account.user).await?;
    let created = ops::api_keys::create_personal(
        &state.ops,
        &account.user,
        &account.actor,
        &freshness,
        &form.new_key(),
    )
    .await;
    let (status, created, form, errors) = match created {
        Ok(created) => (StatusCode::CREATED, Some(created), KeyForm::default(), None),
        Err(OpError::Invalid(errors)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, None, form, Some(errors))
        }
        Err(e) => return Err(e.into()),
    };
    let page = ApiAccessPage {
        created: created.map(ShownKey::from),
        form,
        errors: errors.unwrap_or_default(),
        ..ApiAccessPage::build(&state, account).await?
    };
    Ok((status, page).into_response())
}

async fn change(
    state: &AppState,
    account: Account,
    id: &str,
    change: Change,
) -> Result<Redirect, PageError> {
    let key = ops::api_keys::change_personal(&state.ops, &account.user, &account.actor, id, change)
        .await?;
    session::set_notice(&account.session, change_notice(&key.name, change)).await?;
    Ok(Redirect::to(PAGE))
}

async fn api_key_enable_post(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Redirect, PageError> {
    change(&state, account, &id, Change::Enable).await
}

async fn api_key_disable_post(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<Redirect, PageError> {
    change(&state, account, &id, Change::Disable).await
}

async fn api_key_delete_get(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
) -> Result<ConfirmPage, PageError> {
    let key = ops::api_keys::list_personal(&state.ops, &account.user)
        .await?
        .into_iter()
        .find(|key| key.id == id)
        .ok_or(PageError::NotFound)?;
    Ok(ConfirmPage {
        title: format!("Delete the API key {}?", key.name),
        message: delete_warning(&key.name, &key.prefix),
        action: format!("{KEYS}/{id}/delete"),
        button: "Delete",
        back: PAGE.to_string(),
        alternative: None,
        fields: Vec::new(),
        ctx: account.ctx,
    })
}

async fn api_key_delete_post(
    State(state): State<AppState>,
    account: Account,
    Path(id): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, PageError> {
    if let Some(to_confirmation) = form.unconfirmed(&format!("{KEYS}/{id}/delete")) {
        return Ok(to_confirmation);
    }
    Ok(change(&state, account, &id, Change::Delete)
        .await?
        .into_response())
}

/// The Download button of a key just shown.
#[derive(Deserialize)]
struct DownloadForm {
    #[serde(default)]
    apikey: Zeroizing<String>,
}

/// The `.env` file of a key just shown: `KEYPORT_URL` and `KEYPORT_API_KEY`, as an attachment.
///
/// Keyport keeps only a key's hash, so the file cannot be made later from anything stored, and
/// a `data:` link would put the key in the browser's download history. So the answer that
/// shows the key holds it in a form (the read-only text area is the form's field) whose
/// Download button posts it back here, CSRF-checked like every form; the key is written into
/// the file and forgotten. This works without JavaScript and under the page's CSP (`form-action
/// 'self'`), and the page stays as it is, so Copy still works after a download. Nothing is
/// revealed: the answer holds only what the browser sent, which must look like a Keyport key so
/// that the file is always two well-formed lines.
async fn key_download_post(
    State(state): State<AppState>,
    _signed_in: SignedIn,
    Form(form): Form<DownloadForm>,
) -> Result<Response, PageError> {
    let key = form.apikey.trim();
    let well_formed = key.len() > KEY_PREFIX.len()
        && key.len() <= 100
        && key.starts_with(KEY_PREFIX)
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !well_formed {
        return Err(PageError::BadRequest("This is not a Keyport API key."));
    }
    let body = format!(
        "# Keyport API access. Keep this file secret: the key acts as its holder.\n\
         KEYPORT_URL={}\nKEYPORT_API_KEY={key}\n",
        state.config.public_url()
    );
    let headers = [
        (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        (
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"keyport.env\"",
        ),
    ];
    Ok((headers, body).into_response())
}
