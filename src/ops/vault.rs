//! Sealing and opening secrets: the only place a secret is encrypted or decrypted. A
//! credential's secret (or a service's driver settings) is sealed under its project's data key,
//! bound to its project, its row and its field; a data key, a TOTP secret and a token signing key
//! are sealed under the master key, bound to their project, user or key id. A ciphertext copied
//! elsewhere does not open. Rotating the master key re-wraps all of the latter here.

use std::time::Duration;

use zeroize::Zeroizing;

use super::{OpError, Ops};
use crate::{
    crypto::{
        envelope::{self, DataKey, SecretPlace},
        master_key::MasterKey,
    },
    db::{self, Db, keys::UnderMaster},
};

/// The project a secret belongs to.
#[derive(Clone, Copy, Debug)]
pub struct ProjectId<'a>(pub &'a str);

/// The row a secret belongs to: a credential, or a service (its driver settings).
#[derive(Clone, Copy, Debug)]
pub struct RowId<'a>(pub &'a str);

/// Which secret of its row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// A credential's secret.
    Secret,
    /// The new secret of a regeneration under way.
    PendingSecret,
    /// A service's driver settings (they hold the backend's admin secret).
    DriverSettings,
}

impl Field {
    /// The name bound into the ciphertext: never change one.
    fn as_str(self) -> &'static str {
        match self {
            Field::Secret => "secret",
            Field::PendingSecret => "pending_secret",
            Field::DriverSettings => "driver_settings",
        }
    }
}

impl Ops {
    /// The project's data key, made (and stored wrapped) on first use.
    async fn data_key(&self, project: ProjectId<'_>) -> Result<DataKey, OpError> {
        let wrapped = match db::keys::wrapped_data_key(&self.db, project.0).await? {
            Some(wrapped) => wrapped,
            None => {
                let key = DataKey::generate();
                db::keys::add_data_key(&self.db, project.0, &key.wrap(&self.master, project.0))
                    .await?
            }
        };
        DataKey::unwrap(&self.master, project.0, &wrapped).map_err(|_| {
            OpError::Internal(anyhow::anyhow!(
                "the data key of project {} does not open with the master key",
                project.0
            ))
        })
    }

    /// `secret` sealed under the master key, bound to `what`.
    pub(crate) fn seal_under_master(&self, what: UnderMaster<'_>, secret: &[u8]) -> Vec<u8> {
        seal_under(&self.master, what, secret)
    }

    /// What was sealed under the master key for `what`; `Damaged` when it does not open there.
    pub(crate) fn open_under_master(
        &self,
        what: UnderMaster<'_>,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, OpError> {
        open_under(&self.master, what, sealed).map_err(|_| {
            tracing::warn!(
                ?what,
                "a value sealed under the master key does not decrypt"
            );
            OpError::Damaged
        })
    }

    pub(crate) async fn seal(
        &self,
        project: ProjectId<'_>,
        row: RowId<'_>,
        field: Field,
        secret: &str,
    ) -> Result<Vec<u8>, OpError> {
        let key = self.data_key(project).await?;
        Ok(key.seal(place(project, row, field), secret))
    }

    /// The secret in clear; `Damaged` when it does not decrypt where it is.
    pub(crate) async fn open(
        &self,
        project: ProjectId<'_>,
        row: RowId<'_>,
        field: Field,
        sealed: &[u8],
    ) -> Result<Zeroizing<String>, OpError> {
        let key = self.data_key(project).await?;
        key.open(place(project, row, field), sealed).map_err(|_| {
            tracing::warn!(
                project = project.0,
                row = row.0,
                field = field.as_str(),
                "a sealed value does not decrypt"
            );
            OpError::Damaged
        })
    }
}

fn place<'a>(project: ProjectId<'a>, row: RowId<'a>, field: Field) -> SecretPlace<'a> {
    SecretPlace {
        project_id: project.0,
        credential_id: row.0,
        field: field.as_str(),
    }
}

fn seal_under(master: &MasterKey, what: UnderMaster<'_>, secret: &[u8]) -> Vec<u8> {
    match what {
        UnderMaster::DataKey { project_id } => envelope::seal_data_key(master, project_id, secret),
        UnderMaster::SigningKey { kid } => envelope::seal_signing_key(master, kid, secret),
        UnderMaster::TotpSecret { user_id } => envelope::seal_totp_secret(master, user_id, secret),
        UnderMaster::ProviderToken { user_id } => {
            envelope::seal_provider_token(master, user_id, secret)
        }
    }
}

fn open_under(
    master: &MasterKey,
    what: UnderMaster<'_>,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, envelope::Damaged> {
    match what {
        UnderMaster::DataKey { project_id } => envelope::open_data_key(master, project_id, sealed),
        UnderMaster::SigningKey { kid } => envelope::open_signing_key(master, kid, sealed),
        UnderMaster::TotpSecret { user_id } => envelope::open_totp_secret(master, user_id, sealed),
        UnderMaster::ProviderToken { user_id } => {
            envelope::open_provider_token(master, user_id, sealed)
        }
    }
}

/// Re-wraps everything sealed under `old` (projects' data keys, token signing keys, TOTP
/// secrets, single sign-on refresh tokens) under `new`, in one transaction, and records `new` as the master key. Nothing is
/// changed when anything does not open with `old`. Returns how many projects were re-wrapped.
pub async fn rotate_master_key(
    db: &Db,
    old: &MasterKey,
    new: &MasterKey,
    pause: Option<Duration>,
) -> anyhow::Result<usize> {
    let rewrap = |what: UnderMaster<'_>, sealed: &[u8]| {
        let secret = open_under(old, what, sealed).map_err(|_| {
            anyhow::anyhow!(
                "{} does not open with the current master key; nothing was changed",
                name(what)
            )
        })?;
        Ok(seal_under(new, what, &secret))
    };
    db::keys::rewrap_all(db, &new.id(), rewrap, pause).await
}

/// What the messages of a rotation call a sealed value.
fn name(what: UnderMaster<'_>) -> String {
    match what {
        UnderMaster::DataKey { project_id } => format!("the data key of project {project_id}"),
        UnderMaster::SigningKey { kid } => format!("the token signing key {kid}"),
        UnderMaster::TotpSecret { user_id } => {
            format!("the two-factor secret of user {user_id}")
        }
        UnderMaster::ProviderToken { user_id } => {
            format!("the single sign-on refresh token of user {user_id}")
        }
    }
}
