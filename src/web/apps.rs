//! `/projects/{slug}/apps`: the project's apps (service identities) that hold app keys. Every
//! member sees them; admins and owners create and delete them. An app's own page shows its
//! Keyport API keys to admins and owners, who create (the key shown once), enable, disable and
//! delete them.

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

use super::{
    AppState, PageError,
    api_access::{ConfirmForm, KeyForm, KeyRow, ShownKey, change_notice, delete_warning},
    confirm::{ConfirmPage, Confirmation},
    extract::ProjectMember,
    forms::FieldErrors,
    session,
    view::{Ctx, UnixTime},
};
use crate::{
    domain::roles::{Action, Role},
    ops::{
        self, App, OpError, Project,
        api_keys::Change,
        apps::{Apps, NewApp},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{slug}/apps", get(apps_get).post(apps_post))
        .route("/projects/{slug}/apps/{id}", get(app_get))
        .route("/projects/{slug}/apps/{id}/delete", post(app_delete_post))
        .route("/projects/{slug}/apps/{id}/keys", post(app_key_create_post))
        .route(
            "/projects/{slug}/apps/{id}/keys/{key_id}/enable",
            post(app_key_enable_post),
        )
        .route(
            "/projects/{slug}/apps/{id}/keys/{key_id}/disable",
            post(app_key_disable_post),
        )
        .route(
            "/projects/{slug}/apps/{id}/keys/{key_id}/delete",
            get(app_key_delete_get).post(app_key_delete_post),
        )
}

#[derive(Template, WebTemplate)]
#[template(path = "apps.html")]
struct AppsPage {
    ctx: Ctx,
    project: Project,
    apps: Vec<App>,
    may_manage: bool,
    /// The project's navigation links the audit log for those who may read it.
    may_view_audit: bool,
    name: String,
    description: String,
    /// The role chosen in the form, and those an app may have.
    role: String,
    roles: [Role; 3],
    errors: FieldErrors,
}

impl AppsPage {
    fn new(member: ProjectMember, apps: Apps) -> Self {
        AppsPage {
            may_view_audit: member.may(Action::ViewAudit),
            ctx: member.ctx,
            project: member.principal.project().clone(),
            apps: apps.apps,
            may_manage: apps.may_manage,
            name: String::new(),
            description: String::new(),
            role: Role::Member.as_str().into(),
            roles: ops::apps::APP_ROLES,
            errors: FieldErrors::default(),
        }
    }
}

fn apps_url(member: &ProjectMember) -> String {
    format!("/projects/{}/apps", member.project().slug)
}

#[derive(Deserialize)]
struct AppForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    role: String,
}

async fn apps_get(
    State(state): State<AppState>,
    member: ProjectMember,
) -> Result<AppsPage, PageError> {
    let apps = ops::apps::list(&state.ops, &member).await?;
    Ok(AppsPage::new(member, apps))
}

async fn apps_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Form(form): Form<AppForm>,
) -> Result<Response, PageError> {
    let new = NewApp {
        name: &form.name,
        description: &form.description,
        role: &form.role,
    };
    let errors = match ops::apps::create(&state.ops, &member, new).await {
        Ok(app) => {
            let notice = format!(
                "App {} created. Add its keys on the Credentials page.",
                app.name
            );
            session::set_notice(&member.session, notice).await?;
            return Ok(Redirect::to(&apps_url(&member)).into_response());
        }
        Err(OpError::Invalid(errors)) => errors,
        Err(e) => return Err(e.into()),
    };
    let apps = ops::apps::list(&state.ops, &member).await?;
    let page = AppsPage {
        name: form.name,
        description: form.description,
        role: form.role,
        errors,
        ..AppsPage::new(member, apps)
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

async fn app_delete_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(confirmation): Form<Confirmation>,
) -> Result<Response, PageError> {
    if !confirmation.given() {
        let app = ops::apps::to_delete(&state.ops, &member, &id).await?;
        return Ok(ConfirmPage {
            title: format!("Delete the app {}?", app.name),
            message: "The app and its API keys are deleted for good; an app that still holds credentials is kept.".into(),
            action: format!("{}/{id}/delete", apps_url(&member)),
            button: "Delete",
            back: apps_url(&member),
            alternative: None,
            fields: Vec::new(),
            ctx: member.ctx,
        }
        .into_response());
    }
    let notice = match ops::apps::delete(&state.ops, &member, &id).await {
        Ok(app) => format!("App {} deleted.", app.name),
        // An app that still holds keys is told on the apps page, not on an error page.
        Err(OpError::Refused(why)) => why,
        Err(e) => return Err(e.into()),
    };
    session::set_notice(&member.session, notice).await?;
    Ok(Redirect::to(&apps_url(&member)).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "app.html")]
struct AppPage {
    ctx: Ctx,
    project: Project,
    app: App,
    /// Whether the member sees and manages the app's API keys; the operations decide again.
    may_manage: bool,
    keys: Vec<KeyRow>,
    keys_url: String,
    created: Option<ShownKey>,
    form: KeyForm,
    errors: FieldErrors,
}

fn app_url(member: &ProjectMember, app_id: &str) -> String {
    format!("/projects/{}/apps/{app_id}", member.project().slug)
}

impl AppPage {
    async fn build(
        state: &AppState,
        member: ProjectMember,
        app_id: &str,
    ) -> Result<Self, PageError> {
        let (app, keys) = ops::api_keys::list_for_app(&state.ops, &member, app_id).await?;
        Ok(AppPage {
            keys_url: format!("{}/keys", app_url(&member, &app.id)),
            may_manage: member.may(Action::ManageServices),
            ctx: member.ctx,
            project: member.principal.project().clone(),
            app,
            keys: KeyRow::all(keys),
            created: None,
            form: KeyForm::default(),
            errors: FieldErrors::default(),
        })
    }
}

async fn app_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<AppPage, PageError> {
    AppPage::build(&state, member, &id).await
}

/// Creates a key of the app and answers with the app's page showing it, this once (as the API
/// access page does for personal keys).
async fn app_key_create_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<KeyForm>,
) -> Result<Response, PageError> {
    let created = ops::api_keys::create_for_app(&state.ops, &member, &id, &form.new_key()).await;
    let (status, created, form, errors) = match created {
        Ok(created) => (StatusCode::CREATED, Some(created), KeyForm::default(), None),
        Err(OpError::Invalid(errors)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, None, form, Some(errors))
        }
        Err(e) => return Err(e.into()),
    };
    let page = AppPage {
        created: created.map(ShownKey::from),
        form,
        errors: errors.unwrap_or_default(),
        ..AppPage::build(&state, member, &id).await?
    };
    Ok((status, page).into_response())
}

async fn change_app_key(
    state: &AppState,
    member: ProjectMember,
    (id, key_id): (&str, &str),
    change: Change,
) -> Result<Redirect, PageError> {
    let key = ops::api_keys::change_for_app(&state.ops, &member, id, key_id, change).await?;
    session::set_notice(&member.session, change_notice(&key.name, change)).await?;
    Ok(Redirect::to(&app_url(&member, id)))
}

async fn app_key_enable_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id, key_id)): Path<(String, String, String)>,
) -> Result<Redirect, PageError> {
    change_app_key(&state, member, (&id, &key_id), Change::Enable).await
}

async fn app_key_disable_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id, key_id)): Path<(String, String, String)>,
) -> Result<Redirect, PageError> {
    change_app_key(&state, member, (&id, &key_id), Change::Disable).await
}

async fn app_key_delete_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id, key_id)): Path<(String, String, String)>,
) -> Result<ConfirmPage, PageError> {
    // Only those who manage the app's keys are given them: anyone else finds nothing to delete.
    let (app, keys) = ops::api_keys::list_for_app(&state.ops, &member, &id).await?;
    let key = keys
        .into_iter()
        .find(|key| key.id == key_id)
        .ok_or(PageError::NotFound)?;
    let back = app_url(&member, &app.id);
    Ok(ConfirmPage {
        title: format!("Delete the API key {} of {}?", key.name, app.name),
        message: delete_warning(&key.name, &key.prefix),
        action: format!("{back}/keys/{key_id}/delete"),
        button: "Delete",
        back,
        alternative: None,
        fields: Vec::new(),
        ctx: member.ctx,
    })
}

async fn app_key_delete_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id, key_id)): Path<(String, String, String)>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, PageError> {
    let confirmation = format!("{}/keys/{key_id}/delete", app_url(&member, &id));
    if let Some(to_confirmation) = form.unconfirmed(&confirmation) {
        return Ok(to_confirmation);
    }
    Ok(
        change_app_key(&state, member, (&id, &key_id), Change::Delete)
            .await?
            .into_response(),
    )
}
