//! Add credential: the form's POST.

use axum::{
    Form,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{page::CredentialsPage, show_once, texts::added_notice};
use crate::{
    db::services::Service,
    domain::services::CredentialKind,
    ops::{
        self, OpError,
        credentials::{AddCredential, KeySource, OwnerChoice},
    },
    web::{AppState, PageError, client_config::ConfigChoice, extract::ProjectMember},
};

/// The "Add credential" form, as typed.
#[derive(Deserialize, Default, Clone)]
pub(super) struct AddForm {
    #[serde(default)]
    pub(super) service_id: String,
    #[serde(default)]
    pub(super) owner: String,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) expires: String,
    #[serde(default)]
    pub(super) mode: String,
    /// `key` or, for OpenStack, `ec2`.
    #[serde(default)]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) access_key: String,
    #[serde(default)]
    pub(super) secret: Zeroizing<String>,
}

impl AddForm {
    /// Whether the owner chosen is the app `id` (`app:ID`).
    pub(super) fn names_app(&self, id: &str) -> bool {
        self.owner.strip_prefix("app:") == Some(id)
    }

    /// The form as the page first offers it.
    /// Where no backend issues the keys, recording the provider's key comes first.
    pub(super) fn blank(service: Option<&Service>) -> Self {
        let stored = service.is_some_and(|s| !s.driver.is_remote());
        AddForm {
            service_id: service.map(|s| s.id.clone()).unwrap_or_default(),
            owner: "me".into(),
            mode: if stored { "import" } else { "generate" }.into(),
            kind: "key".into(),
            ..Default::default()
        }
    }

    fn input(&self) -> AddCredential {
        AddCredential {
            service_id: self.service_id.clone(),
            owner: match self.owner.strip_prefix("app:") {
                Some(app_id) => OwnerChoice::App(app_id.to_string()),
                None => OwnerChoice::Me,
            },
            name: self.name.clone(),
            description: self.description.clone(),
            expires: self.expires.clone(),
            kind: self.kind.clone(),
            source: match self.mode.as_str() {
                "import" => KeySource::Import {
                    access_key: self.access_key.clone(),
                    secret: self.secret.clone(),
                },
                _ => KeySource::Generate,
            },
        }
    }
}

pub(super) async fn credentials_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Form(form): Form<AddForm>,
) -> Result<Response, PageError> {
    let errors = match ops::credentials::add(&state.ops, &member, form.input()).await {
        Ok(added) => {
            let kind = CredentialKind::parse(&form.kind).unwrap_or(CredentialKind::Key);
            let notice = added_notice(&added.service, kind, &added.name, form.mode == "import");
            // Shown once on the page it leads to, as the consoles do, and audited there.
            let choice = ConfigChoice::default();
            return show_once(&member, &added.service.id, &added.id, &choice, Some(notice)).await;
        }
        Err(OpError::Invalid(errors)) => errors,
        Err(e @ (OpError::NotFound | OpError::Forbidden(_) | OpError::Internal(_))) => {
            return Err(e.into());
        }
        // Refusals that come after the checks (the limit under the lock, the backend) are
        // shown where the limit is.
        Err(refusal) => ops::FieldErrors::one("limit", refusal.message()),
    };
    let service_id = form.service_id.clone();
    let mut page = CredentialsPage::build(
        &state,
        member,
        Some(&service_id),
        "",
        &ConfigChoice::default(),
        None,
    )
    .await?;
    // What was typed is kept, but never a secret.
    page.form = AddForm {
        secret: Zeroizing::default(),
        ..form
    };
    page.errors = errors;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}
