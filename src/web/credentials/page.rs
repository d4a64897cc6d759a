//! The View Credentials page, and the same page with one secret shown or an Add form refused.

use std::sync::Arc;

use askama::Template;
use axum::{
    extract::{Query, State},
    response::{Html, IntoResponse, Response},
};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{
    add_form::AddForm,
    take_show_once,
    texts::{asks_for_the_key, delete_warning, issuer_note, labels, only_key, regenerate_warning},
};
use crate::{
    domain::{
        roles::{Action, CredentialAction, Whose},
        rotation::Deadline,
        services::{CredentialKind, Interface},
        time,
    },
    ops::{
        self, App, CredentialInfo, Endpoint, FieldErrors, Project, Service,
        credentials::{Listed, Purpose, Revealed},
    },
    snippets::Snippet,
    web::{
        AppState, PageError,
        client_config::{ConfigChoice, SiteChoice},
        extract::ProjectMember,
        view::{Ctx, Escaped, UnixTime},
    },
};

/// One credential as the page shows it. It holds the secret only when it was just revealed.
pub struct CredentialView {
    /// As listed: shared with the project's snapshot, not copied (its sealed secret is not shown).
    pub credential: Arc<CredentialInfo>,
    /// Escaped once: the page writes it into seven links and buttons.
    pub id: Escaped,
    /// Labels of the public and secret parts: "Access key" and "Secret", or "User name" and "Password".
    pub labels: (&'static str, &'static str),
    pub may_manage: bool,
    pub revealed: Option<Zeroizing<String>>,
    pub damaged: bool,
    /// Which of the page's shared dialog texts fits this key (see [`DialogText`]).
    pub variant: &'static str,
    /// "Configure your client", filled with the secret only when it was just revealed.
    pub snippets: Vec<Snippet>,
    /// The key's status and last use as the backend reports them (IAM), else empty.
    pub backend: String,
    /// When its service's policy wants it rotated; `None` without a maximum age.
    pub rotation: Option<Deadline>,
    /// When it expires, if it does.
    pub expiry: Option<Deadline>,
    /// The departed members who saw its secret since it last changed.
    pub seen_by_departed: Vec<String>,
    /// Its part in a guided rotation, if it takes part in one.
    pub rotating: Option<String>,
}

/// The texts of the page's one Regenerate and one Delete dialog for one kind of key, with the
/// key's name and public part left as placeholders that the page's script fills in from the
/// button pressed (without the script, the buttons lead to confirmation pages instead).
pub struct DialogText {
    pub variant: &'static str,
    pub regenerate: String,
    pub delete: String,
    /// The labels of the new key's fields, where Regenerate takes the provider's new key.
    pub typed: Option<(&'static str, &'static str)>,
    /// Regenerating leaves no overlap: the dialog offers "Add a second key first".
    pub only: bool,
}

/// The placeholders of [`DialogText`].
const NAME_HOLE: &str = "‹name›";
const KEY_HOLE: &str = "‹key›";

/// The variant of a key: its kind, and whether it is its owner's only one.
fn variant(kind: CredentialKind, only: bool) -> &'static str {
    match (kind, only) {
        (CredentialKind::Key, false) => "key",
        (CredentialKind::Key, true) => "key-only",
        (CredentialKind::Ec2, false) => "ec2",
        (CredentialKind::Ec2, true) => "ec2-only",
    }
}

#[derive(Deserialize, Default)]
pub(super) struct CredentialsQuery {
    service: Option<String>,
    /// The credential whose secret this view shows, if Show or Add just asked for it.
    shown: Option<String>,
    #[serde(default)]
    q: String,
    #[serde(flatten)]
    choice: ConfigChoice,
}

#[derive(Template)]
#[template(path = "credentials.html", whitespace = "minimize")]
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
    apps: Arc<[App]>,
    may_add: bool,
    /// The signed-in member's own keys reached the service's limit.
    at_limit: bool,
    /// Whether the member may see a secret at all (the snippets' "with the secret").
    may_reveal: bool,
    dialogs: Vec<DialogText>,
    /// The project's navigation links the audit log for those who may read it.
    may_view_audit: bool,
    /// Manages others' keys: sees them, adds app keys, imports.
    is_admin: bool,
    pub(super) form: AddForm,
    pub(super) errors: FieldErrors,
    /// Why the backend's view of the keys could not be shown, if it could not.
    backend_problem: String,
}

/// Room for the whole page of 50 keys (59 KB): a page rendered into askama's estimate (a few
/// KB) was copied five times as it grew.
const PAGE_CAPACITY: usize = 64 * 1024;

impl IntoResponse for CredentialsPage {
    fn into_response(self) -> Response {
        let mut html = String::with_capacity(PAGE_CAPACITY);
        match self.render_into(&mut html) {
            Ok(()) => Html(html).into_response(),
            Err(cause) => PageError::Internal(cause.into()).into_response(),
        }
    }
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
        let rotating = if listing.mine.is_empty()
            && listing.app_keys.is_empty()
            && listing.others.is_empty()
        {
            Default::default()
        } else {
            ops::rotation::marks(&state.ops, &member).await?
        };
        let may_reveal = member.may(Action::Credential(CredentialAction::Reveal, Whose::Own));
        // Who may not see a secret gets the snippets that read it from the environment.
        let config = if may_reveal {
            SiteChoice::pick(&listing.endpoints, choice)
        } else {
            let without = ConfigChoice {
                variant: "without".into(),
                ..choice.clone()
            };
            SiteChoice::pick(&listing.endpoints, &without)
        };
        let mut variants: Vec<(CredentialKind, bool)> = Vec::new();
        let now = time::now();
        let mut view = |listed: Listed| {
            let service = listing
                .selected
                .as_ref()
                .expect("credentials belong to the selected service");
            let credential = &listed.credential;
            let only = only_key(service, listed.held);
            let policy = &service.policy;
            if listed.may_manage && !variants.contains(&(credential.kind, only)) {
                variants.push((credential.kind, only));
            }
            let shown = revealed
                .as_ref()
                .filter(|r| r.credential.id == credential.id);
            let secret = shown.and_then(|r| r.secret.clone());
            // The panel of the credential asked for, or of the one just revealed.
            let snippets = if config.configure == credential.id || shown.is_some() {
                config.snippets(
                    member.project(),
                    service,
                    credential,
                    secret.as_deref().map(String::as_str),
                )
            } else {
                Vec::new()
            };
            CredentialView {
                id: Escaped::new(&credential.id),
                labels: labels(service, credential.kind),
                may_manage: listed.may_manage,
                damaged: shown.is_some() && secret.is_none(),
                revealed: secret,
                variant: variant(credential.kind, only),
                snippets,
                backend: listed.backend_status,
                rotation: policy.rotation(credential.last_change(), now),
                expiry: policy.expiry(credential.expires_at, now),
                seen_by_departed: listed.seen_by_departed,
                rotating: rotating.get(&credential.id).cloned(),
                credential: listed.credential,
            }
        };
        let mine: Vec<CredentialView> = listing.mine.into_iter().map(&mut view).collect();
        let app_keys = listing.app_keys.into_iter().map(&mut view).collect();
        let others = listing.others.into_iter().map(&mut view).collect();
        let dialogs = match &listing.selected {
            Some(service) => variants
                .into_iter()
                .map(|(kind, only)| DialogText {
                    variant: variant(kind, only),
                    regenerate: regenerate_warning(service, kind, KEY_HOLE, only),
                    delete: delete_warning(service, kind, NAME_HOLE, KEY_HOLE),
                    typed: (!service.driver.is_remote()).then(|| labels(service, kind)),
                    only: only && service.driver.is_remote(),
                })
                .collect(),
            None => Vec::new(),
        };
        let form = AddForm::blank(listing.selected.as_ref());
        let at_limit = listing
            .selected
            .as_ref()
            .is_some_and(|s| mine.len() as i64 >= s.max_keys_per_owner);
        Ok(CredentialsPage {
            at_limit,
            may_reveal,
            dialogs,
            may_view_audit: member.may(Action::ViewAudit),
            may_add: member.may(Action::Credential(CredentialAction::Add, Whose::Own)),
            is_admin: member.may(Action::Credential(CredentialAction::Add, Whose::Others)),
            ctx: member.ctx,
            project: member.principal.project().clone(),
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

    fn issuer_note(&self) -> String {
        self.selected.as_ref().map(issuer_note).unwrap_or_default()
    }

    fn asks_for_the_key(&self) -> bool {
        self.selected.as_ref().is_some_and(asks_for_the_key)
    }

    fn has_keys(&self) -> bool {
        !(self.mine.is_empty() && self.app_keys.is_empty() && self.others.is_empty())
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
    let shown = query.shown.as_deref();
    let revealed = match shown {
        Some(id) if take_show_once(&member, shown).await? => {
            Some(ops::credentials::reveal(&state.ops, &member, id, Purpose::Show).await?)
        }
        _ => None,
    };
    // A page with a secret is never stored by the browser (every page is `no-store`).
    CredentialsPage::build(&state, member, service, &query.q, &query.choice, revealed).await
}
