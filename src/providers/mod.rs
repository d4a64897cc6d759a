//! Backend drivers: where a credential's key is created, rotated and revoked. Operations call the
//! [`Driver`] of a service and never know which backend is behind it.
//!
//! Every operation is split so that Keyport can record its intent before the backend acts
//! (see `ops::lifecycle`): a driver may [`choose`](Driver::choose) the new key
//! itself, [`issue`](Driver::issue) it at the backend, and later [`revoke`](Driver::revoke) the
//! key it replaced.

mod aws_iam;
mod http;
mod keystone;
pub mod oidc;
pub mod probe;
pub mod s3;
mod stored;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::domain::services::{CredentialKind, DriverKind, ServiceKind};

pub use aws_iam::{AwsIam, IamSettings};
pub use http::{Http, OutgoingPolicy, not_answered, redirected, unreachable};

/// Error codes of the S3 and IAM APIs that Keyport names in its messages; any other code in a
/// backend's answer is not repeated (a backend's text is never echoed).
pub fn known_error_code(code: &str) -> bool {
    const KNOWN: [&str; 30] = [
        "AccessDenied",
        "AccountProblem",
        "AllAccessDisabled",
        "DeleteConflict",
        "EntityAlreadyExists",
        "ExpiredToken",
        "IncompleteSignature",
        "InternalError",
        "InvalidAccessKeyId",
        "InvalidAction",
        "InvalidClientTokenId",
        "InvalidParameterValue",
        "InvalidRequest",
        "InvalidToken",
        "LimitExceeded",
        "MalformedQueryString",
        "MissingAuthenticationToken",
        "MissingSecurityHeader",
        "NoSuchBucket",
        "NoSuchEntity",
        "NotImplemented",
        "OptInRequired",
        "RequestExpired",
        "RequestTimeTooSkewed",
        "ServiceUnavailable",
        "SignatureDoesNotMatch",
        "SlowDown",
        "Throttling",
        "TokenRefreshRequired",
        "ValidationError",
    ];
    KNOWN.contains(&code)
}
pub use keystone::{CatalogEndpoint, Keystone, KeystoneSettings};
pub use stored::Stored;

/// A key as the backend issued it.
pub struct IssuedKey {
    /// The public part: an access key id, an OpenStack user name, an API key id.
    pub access_key: String,
    pub secret: Zeroizing<String>,
}

/// The user an owner (a member or an app) is at the backend.
#[derive(Clone, Debug, Default)]
pub struct BackendUser {
    /// Keystone's user id, or the IAM user name.
    pub id: String,
    pub name: String,
}

/// A key as the backend lists it.
pub struct BackendKey {
    pub access_key: String,
    /// `Active` / `Inactive` where the backend says so.
    pub status: String,
    /// When the backend last saw the key used, as it words it.
    pub last_used: String,
    /// Keystone shows EC2 secrets to admins; IAM never shows a secret again.
    pub secret: Option<Zeroizing<String>>,
}

/// What a backend can do to stop a key short of deleting it (step 3 of a guided rotation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deactivation {
    /// The backend has an inactive state, and a key can be made active again (IAM).
    AtBackend,
    /// No backend: Keyport marks the key disabled; nothing changes at the provider.
    KeyportOnly,
    /// The backend has no inactive state (Keystone EC2): a key works until it is deleted.
    Unsupported,
}

/// What a backend records of a key's use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyUse {
    /// The backend keeps no record of when a key was used.
    NotRecorded,
    /// The backend records use, and has none for this key.
    Never,
    /// The backend's latest record: when (as it words it, RFC 3339), by which service, where.
    Used {
        at: String,
        service: String,
        region: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The backend could not be reached: it cannot have acted.
    #[error("{0}")]
    Unreachable(String),
    /// The backend did not answer in time, or broke off its answer: it may have acted.
    #[error("{0}")]
    Uncertain(String),
    /// The backend answered and refused; the message is for the user and holds no secret.
    #[error("{0}")]
    Refused(String),
}

/// The settings of a service's driver, sealed under the project's data key as JSON.
#[derive(Clone, Serialize, Deserialize, Default)]
#[serde(tag = "driver", rename_all = "snake_case")]
pub enum DriverSettings {
    #[default]
    Stored,
    Keystone(KeystoneSettings),
    AwsIam(IamSettings),
}

impl DriverSettings {
    pub fn kind(&self) -> DriverKind {
        match self {
            DriverSettings::Stored => DriverKind::Stored,
            DriverSettings::Keystone(_) => DriverKind::Keystone,
            DriverSettings::AwsIam(_) => DriverKind::AwsIam,
        }
    }
}

/// Where a service's users and projects live at an OpenStack backend.
#[derive(Clone, Copy)]
pub struct Placement<'a> {
    pub kind: ServiceKind,
    pub user_domain: &'a str,
    pub project: &'a str,
    pub project_domain: &'a str,
}

#[async_trait]
pub trait Driver: Send + Sync {
    /// Whether keys live at a backend (everything but `stored`).
    fn is_remote(&self) -> bool {
        true
    }

    /// The user `name` at the backend: created when `create` (and refused if it exists, so that
    /// Keyport never takes over a user by accident), or linked when it must exist already.
    async fn user(&self, name: &str, create: bool) -> Result<BackendUser, DriverError>;

    /// A new key Keyport picks before calling the backend, so that an interrupted call can be
    /// finished; `None` where the backend picks (IAM). `current` is the key being replaced.
    fn choose(
        &self,
        kind: CredentialKind,
        user: &BackendUser,
        current: Option<&str>,
    ) -> Option<IssuedKey>;

    /// Makes a new key valid at the backend: `chosen` if the driver chose one.
    async fn issue(
        &self,
        user: &BackendUser,
        kind: CredentialKind,
        chosen: Option<&IssuedKey>,
    ) -> Result<IssuedKey, DriverError>;

    /// Makes `access_key` stop working. `replaced` says a new key took its place (a password
    /// that was just changed needs nothing more); a missing key is not an error.
    async fn revoke(
        &self,
        user: &BackendUser,
        kind: CredentialKind,
        access_key: &str,
        replaced: bool,
    ) -> Result<(), DriverError>;

    /// Whether `key` works at the backend now.
    async fn is_live(
        &self,
        user: &BackendUser,
        kind: CredentialKind,
        key: &IssuedKey,
    ) -> Result<bool, DriverError>;

    /// The keys of `user` at the backend that can be listed (IAM access keys, EC2 pairs).
    async fn list_keys(&self, user: &BackendUser) -> Result<Vec<BackendKey>, DriverError>;

    /// Checks the admin credentials with one real call.
    async fn check(&self) -> Result<(), DriverError>;

    /// The name of the user Keyport acts as at the backend, which no owner may be linked to.
    async fn admin_user(&self) -> Result<Option<String>, DriverError> {
        Ok(None)
    }

    /// Whether the backend can deactivate a key without deleting it.
    fn deactivation(&self) -> Deactivation {
        Deactivation::Unsupported
    }

    /// Makes `access_key` inactive (`active` false) or active again, where
    /// [`deactivation`](Driver::deactivation) says the backend can; a no-op where only Keyport
    /// keeps the key.
    async fn set_active(
        &self,
        _user: &BackendUser,
        _access_key: &str,
        _active: bool,
    ) -> Result<(), DriverError> {
        Err(DriverError::Refused(
            "This backend has no inactive state for a key: it works until it is deleted.".into(),
        ))
    }

    /// The backend's record of the key's latest use.
    async fn last_use(&self, _access_key: &str) -> Result<KeyUse, DriverError> {
        Ok(KeyUse::NotRecorded)
    }
}

/// The driver of a service with its settings.
pub fn driver<'a>(
    settings: &'a DriverSettings,
    place: Placement<'a>,
    http: &'a Http,
) -> Box<dyn Driver + 'a> {
    match settings {
        DriverSettings::Stored => Box::new(Stored { kind: place.kind }),
        DriverSettings::Keystone(settings) => Box::new(Keystone::new(settings, place, http)),
        DriverSettings::AwsIam(settings) => Box::new(AwsIam::new(settings, http)),
    }
}

/// A shared driver is a driver: lets tests hand one fake to every operation.
#[async_trait]
impl<T: Driver + ?Sized> Driver for std::sync::Arc<T> {
    fn is_remote(&self) -> bool {
        (**self).is_remote()
    }
    async fn user(&self, name: &str, create: bool) -> Result<BackendUser, DriverError> {
        (**self).user(name, create).await
    }
    fn choose(
        &self,
        kind: CredentialKind,
        user: &BackendUser,
        current: Option<&str>,
    ) -> Option<IssuedKey> {
        (**self).choose(kind, user, current)
    }
    async fn issue(
        &self,
        user: &BackendUser,
        kind: CredentialKind,
        chosen: Option<&IssuedKey>,
    ) -> Result<IssuedKey, DriverError> {
        (**self).issue(user, kind, chosen).await
    }
    async fn revoke(
        &self,
        user: &BackendUser,
        kind: CredentialKind,
        access_key: &str,
        replaced: bool,
    ) -> Result<(), DriverError> {
        (**self).revoke(user, kind, access_key, replaced).await
    }
    async fn is_live(
        &self,
        user: &BackendUser,
        kind: CredentialKind,
        key: &IssuedKey,
    ) -> Result<bool, DriverError> {
        (**self).is_live(user, kind, key).await
    }
    async fn list_keys(&self, user: &BackendUser) -> Result<Vec<BackendKey>, DriverError> {
        (**self).list_keys(user).await
    }
    async fn check(&self) -> Result<(), DriverError> {
        (**self).check().await
    }
    async fn admin_user(&self) -> Result<Option<String>, DriverError> {
        (**self).admin_user().await
    }
    fn deactivation(&self) -> Deactivation {
        (**self).deactivation()
    }
    async fn set_active(
        &self,
        user: &BackendUser,
        access_key: &str,
        active: bool,
    ) -> Result<(), DriverError> {
        (**self).set_active(user, access_key, active).await
    }
    async fn last_use(&self, access_key: &str) -> Result<KeyUse, DriverError> {
        (**self).last_use(access_key).await
    }
}
