//! Credentials as every layer may see them: who holds one, and what may be shown of it. The
//! sealed secrets stay in the database's row type, which never leaves the operations layer.

use crate::domain::services::{CredentialKind, CredentialState};

/// Who holds a credential.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    User(String),
    App(String),
}

/// What may be shown of a credential: everything but its sealed secrets and the operation's
/// bookkeeping (who asked for it, which process carries it out).
#[derive(Clone, Debug)]
pub struct CredentialInfo {
    pub id: String,
    pub project_id: String,
    pub service_id: String,
    pub owner: Owner,
    /// The owner's name as shown: a member's name, or an app's.
    pub owner_name: String,
    pub kind: CredentialKind,
    pub name: String,
    pub description: String,
    pub access_key: String,
    pub enabled: bool,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub created_by: String,
    pub rotated_at: Option<i64>,
    /// `Active`, or the step a backend operation stopped at (see `ops::lifecycle`).
    pub state: CredentialState,
    pub state_since: Option<i64>,
    pub pending_access_key: String,
    /// The owner's user at the backend (Keystone user id, IAM user name); empty for `stored`.
    pub backend_user: String,
}

impl CredentialInfo {
    /// When the key last changed: its last rotation, or its creation. Its age counts from here.
    pub fn last_change(&self) -> i64 {
        self.rotated_at.unwrap_or(self.created_at)
    }
}
