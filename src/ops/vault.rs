//! Sealing and opening secrets: the only place a secret is encrypted or decrypted. A secret is
//! bound to its project, its row and its field, so a ciphertext copied elsewhere does not open.

use zeroize::Zeroizing;

use super::{OpError, Ops};
use crate::{
    crypto::envelope::{DataKey, SecretPlace},
    db,
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
    async fn data_key(&self, project: ProjectId<'_>) -> Result<DataKey, OpError> {
        Ok(db::keys::project_key(&self.db, &self.master, project.0).await?)
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
