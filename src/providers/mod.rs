//! Backend drivers: where a credential's key is created, rotated and revoked. Handlers call the
//! [`Driver`] of a service and never know which backend is behind it.

mod stored;

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::domain::services::{CredentialKind, ServiceKind};

pub use stored::Stored;

/// A key as the backend issued it.
pub struct IssuedKey {
    /// The public part: an access key id, an OpenStack user name, an API key id.
    pub access_key: String,
    pub secret: Zeroizing<String>,
}

/// What the driver is asked to act on.
pub struct KeyRequest<'a> {
    pub kind: ServiceKind,
    /// A password or an EC2 pair, for OpenStack; always `Key` elsewhere.
    pub credential: CredentialKind,
    /// The current public part, for regenerate and delete.
    pub access_key: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The backend did not answer or refused; the message is for the user and holds no secret.
    #[error("{0}")]
    Backend(String),
}

#[async_trait]
pub trait Driver: Send + Sync {
    async fn create(&self, request: KeyRequest<'_>) -> Result<IssuedKey, DriverError>;
    async fn regenerate(&self, request: KeyRequest<'_>) -> Result<IssuedKey, DriverError>;
    async fn delete(&self, request: KeyRequest<'_>) -> Result<(), DriverError>;
}

/// The driver a service names.
pub fn driver_for(name: &str) -> Option<&'static dyn Driver> {
    match name {
        "stored" => Some(&Stored),
        _ => None,
    }
}
