//! The View Credentials page, and the same page with one secret shown or an Add form refused.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{
    add::AddForm,
    texts::{delete_warning, labels, only_key, regenerate_warning},
};
use crate::{
    db::{
        self,
        apps::App,
        projects::Project,
        services::{Endpoint, Service},
    },
    domain::{
        roles::{Action, CredentialAction, Whose},
        services::Interface,
    },
    ops::{
        self, FieldErrors,
        credentials::{Listed, Revealed},
    },
    snippets::Snippet,
    web::{
        AppState, PageError,
        client_config::{ConfigChoice, SiteChoice},
        extract::ProjectMember,
        view::{Ctx, UnixTime},
    },
};

/// Expiry within this many days is flagged.
const EXPIRY_WARNING_DAYS: i64 = 14;

/// One credential as the page shows it. It holds the secret only when it was just revealed.
pub struct CredentialView {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Labels of the public and secret parts: "Access key" and "Secret", or "User name" and "Password".
    pub labels: (&'static str, &'static str),
    pub access_key: String,
    pub owner_name: String,
    pub created_at: i64,
    pub created_by: String,
    pub rotated_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub enabled: bool,
    pub may_manage: bool,
    pub revealed: Option<Zeroizing<String>>,
    pub damaged: bool,
    pub regenerate_warning: String,
    /// Regenerating would leave no overlap: the dialog offers "Add a second key first".
    pub only_key: bool,
    pub delete_warning: String,
    /// "Configure your client", filled with the secret only when it was just revealed.
    pub snippets: Vec<Snippet>,
    /// `Active`, or the step a backend change stopped at.
    pub state: crate::domain::services::CredentialState,
    /// The key's status and last use as the backend reports them (IAM), else empty.
    pub backend: String,
}

impl CredentialView {
    /// `expired`, `soon` or empty, for the expiry flag.
    pub fn expiry_state(&self) -> &'static str {
        match self.expires_at {
            Some(at) if at <= db::now() => "expired",
            Some(at) if at <= db::now() + EXPIRY_WARNING_DAYS * 86_400 => "soon",
            _ => "",
        }
    }
}

#[derive(Deserialize, Default)]
pub(super) struct CredentialsQuery {
    service: Option<String>,
    #[serde(default)]
    q: String,
    #[serde(flatten)]
    choice: ConfigChoice,
}

#[derive(Template, WebTemplate)]
#[template(path = "credentials.html")]
pub(super) struct CredentialsPage {
    ctx: Ctx,
    project: Project,
    q: String,
    services: Vec<Service>,
    selected: Option<Service>,
    endpoints: Vec<Endpoint>,
    config: SiteChoice,
    mine: Vec<CredentialView>,
    app_keys: Vec<CredentialView>,
    others: Vec<CredentialView>,
    apps: Vec<App>,
    may_add: bool,
    /// Manages others' keys: sees them, adds app keys, imports.
    is_admin: bool,
    pub(super) form: AddForm,
    pub(super) errors: FieldErrors,
    /// Why the backend's view of the keys could not be shown, if it could not.
    backend_problem: String,
}

impl CredentialsPage {
    /// The page for `service_id` (or the first service matching `q`), with `revealed` shown.
    pub(super) async fn build(
        state: &AppState,
        member: ProjectMember,
        service_id: Option<&str>,
        q: &str,
        choice: &ConfigChoice,
        revealed: Option<Revealed>,
    ) -> Result<Self, PageError> {
        let listing = ops::credentials::list(&state.ops, &member, service_id, q).await?;
        let config = SiteChoice::pick(&listing.endpoints, choice);
        let view = |listed: Listed| {
            let service = listing
                .selected
                .as_ref()
                .expect("credentials belong to the selected service");
            let credential = &listed.credential;
            let shown = revealed
                .as_ref()
                .filter(|r| r.credential.id == credential.id);
            let secret = shown.and_then(|r| r.secret.clone());
            // The panel of the credential asked for, or of the one just revealed.
            let snippets = if config.configure == credential.id || shown.is_some() {
                config.snippets(
                    &member.project,
                    service,
                    credential,
                    secret.as_deref().map(String::as_str),
                )
            } else {
                Vec::new()
            };
            CredentialView {
                id: credential.id.clone(),
                name: credential.name.clone(),
                description: credential.description.clone(),
                labels: labels(service, credential.kind),
                access_key: credential.access_key.clone(),
                owner_name: credential.owner_name.clone(),
                created_at: credential.created_at,
                created_by: credential.created_by.clone(),
                rotated_at: credential.rotated_at,
                expires_at: credential.expires_at,
                enabled: credential.enabled,
                may_manage: listed.may_manage,
                damaged: shown.is_some() && secret.is_none(),
                revealed: secret,
                regenerate_warning: regenerate_warning(service, credential, listed.held),
                only_key: only_key(service, listed.held),
                delete_warning: delete_warning(service, credential),
                snippets,
                state: credential.state,
                backend: listed.backend_status,
            }
        };
        let mine = listing.mine.into_iter().map(view).collect();
        let app_keys = listing.app_keys.into_iter().map(view).collect();
        let others = listing.others.into_iter().map(view).collect();
        let form = AddForm::blank(listing.selected.as_ref());
        Ok(CredentialsPage {
            may_add: member.may(Action::Credential(CredentialAction::Add, Whose::Own)),
            is_admin: member.may(Action::Credential(CredentialAction::Add, Whose::Others)),
            ctx: member.ctx,
            project: member.principal.project,
            q: q.to_string(),
            services: listing.services,
            selected: listing.selected,
            endpoints: listing.endpoints,
            config,
            mine,
            app_keys,
            others,
            apps: listing.apps,
            form,
            errors: FieldErrors::default(),
            backend_problem: listing.backend_problem,
        })
    }

    fn public_endpoints(&self) -> Vec<&Endpoint> {
        self.endpoints
            .iter()
            .filter(|e| e.interface != Interface::Private)
            .collect()
    }
}

pub(super) async fn credentials_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Query(query): Query<CredentialsQuery>,
) -> Result<CredentialsPage, PageError> {
    let service = query.service.as_deref();
    CredentialsPage::build(&state, member, service, &query.q, &query.choice, None).await
}
