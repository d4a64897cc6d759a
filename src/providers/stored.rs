//! The `stored` driver: no backend. Keyport generates the key pair and keeps it.

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::{BackendKey, BackendUser, Deactivation, Driver, DriverError, IssuedKey};
use crate::{
    crypto::random_string,
    domain::services::{CredentialKind, ServiceKind},
};

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
pub(super) const SECRET_CHARS: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The `stored` driver of a service of `kind`.
pub struct Stored {
    pub kind: ServiceKind,
}

/// A key pair in the usual style: a 20-character upper-case access key id (or, for OpenStack, a
/// user name) and a 40-character secret, both from the OS RNG.
fn generate(kind: ServiceKind, access_key: Option<&str>) -> IssuedKey {
    let access_key = match (kind, access_key) {
        // An OpenStack user keeps their name; only the password changes.
        (ServiceKind::OpenStack, Some(name)) => name.to_string(),
        (ServiceKind::OpenStack, None) => format!(
            "keyport-{}",
            random_string(8, b"abcdefghijklmnopqrstuvwxyz0123456789")
        ),
        _ => format!("KP{}", random_string(18, UPPER_DIGITS)),
    };
    IssuedKey {
        access_key,
        secret: Zeroizing::new(random_string(40, SECRET_CHARS)),
    }
}

#[async_trait]
impl Driver for Stored {
    fn is_remote(&self) -> bool {
        false
    }

    fn deactivation(&self) -> Deactivation {
        Deactivation::KeyportOnly
    }

    async fn set_active(&self, _: &BackendUser, _: &str, _: bool) -> Result<(), DriverError> {
        // No provider is asked: Keyport's own flag is all that changes.
        Ok(())
    }

    async fn user(&self, name: &str, _create: bool) -> Result<BackendUser, DriverError> {
        Ok(BackendUser {
            id: String::new(),
            name: name.to_string(),
        })
    }

    fn choose(
        &self,
        kind: CredentialKind,
        _user: &BackendUser,
        current: Option<&str>,
    ) -> Option<IssuedKey> {
        Some(generate(kind.key_style(self.kind), current))
    }

    async fn issue(
        &self,
        _user: &BackendUser,
        kind: CredentialKind,
        chosen: Option<&IssuedKey>,
    ) -> Result<IssuedKey, DriverError> {
        Ok(match chosen {
            Some(key) => IssuedKey {
                access_key: key.access_key.clone(),
                secret: key.secret.clone(),
            },
            None => generate(kind.key_style(self.kind), None),
        })
    }

    async fn revoke(
        &self,
        _user: &BackendUser,
        _kind: CredentialKind,
        _access_key: &str,
        _replaced: bool,
    ) -> Result<(), DriverError> {
        Ok(())
    }

    async fn is_live(
        &self,
        _user: &BackendUser,
        _kind: CredentialKind,
        _key: &IssuedKey,
    ) -> Result<bool, DriverError> {
        // Nothing to ask: a key Keyport chose is the key.
        Ok(true)
    }

    async fn list_keys(&self, _user: &BackendUser) -> Result<Vec<BackendKey>, DriverError> {
        Ok(Vec::new())
    }

    async fn check(&self) -> Result<(), DriverError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_look_like_cloud_keys() {
        let key = generate(ServiceKind::S3, None);
        assert_eq!(key.access_key.len(), 20);
        assert!(
            key.access_key
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        assert_eq!(key.secret.len(), 40);
        let again = generate(ServiceKind::S3, Some(&key.access_key));
        assert_ne!(
            again.access_key, key.access_key,
            "S3 rotation replaces the pair"
        );
        let user = generate(ServiceKind::OpenStack, None);
        assert!(user.access_key.starts_with("keyport-"));
        assert_eq!(
            generate(ServiceKind::OpenStack, Some(&user.access_key)).access_key,
            user.access_key
        );
    }
}
