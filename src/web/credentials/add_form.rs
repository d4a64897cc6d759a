//! The "Add credential" form: what the page offers and what its POST reads back.

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::ops::{
    Service,
    credentials::{AddCredential, KeySource, OwnerChoice},
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

    pub(super) fn input(&self) -> AddCredential {
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
