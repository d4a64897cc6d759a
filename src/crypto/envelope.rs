//! Envelope encryption. Each project has a random data key, stored wrapped (AES-256-GCM) under the
//! master key; each secret is sealed under its project's data key. The associated data binds a
//! ciphertext to where it belongs (project; credential and field), so a ciphertext copied to
//! another row, field or project fails to open.
//!
//! Stored form: version byte ‖ 96-bit random nonce ‖ ciphertext and tag.

use std::fmt;

use aes_gcm::{
    Aes256Gcm, Key, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use zeroize::Zeroizing;

use super::{master_key::MasterKey, random_bytes};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the encrypted value is damaged, or belongs to another record")]
pub struct Damaged;

/// Where a secret belongs; it is authenticated with the secret and must match to open it.
#[derive(Clone, Copy, Debug)]
pub struct SecretPlace<'a> {
    pub project_id: &'a str,
    pub credential_id: &'a str,
    pub field: &'a str,
}

impl SecretPlace<'_> {
    fn aad(&self) -> Vec<u8> {
        [
            b"keyport secret v1",
            self.project_id.as_bytes(),
            self.credential_id.as_bytes(),
            self.field.as_bytes(),
        ]
        .join(&0u8)
    }
}

fn data_key_aad(project_id: &str) -> Vec<u8> {
    [b"keyport data key v1".as_slice(), project_id.as_bytes()].join(&0u8)
}

fn seal_with(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    let nonce = random_bytes::<NONCE_LEN>();
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encrypts any message shorter than 64 GiB");
    let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    sealed.push(VERSION);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    sealed
}

fn open_with(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, Damaged> {
    if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != VERSION {
        return Err(Damaged);
    }
    let (nonce, ciphertext) = sealed[1..].split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Damaged)?;
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| Damaged)
}

fn signing_key_aad(kid: &str) -> Vec<u8> {
    [b"keyport signing key v1".as_slice(), kid.as_bytes()].join(&0u8)
}

/// A token signing key's private part sealed under the master key, bound to its `kid`.
pub fn seal_signing_key(master: &MasterKey, kid: &str, private: &[u8]) -> Vec<u8> {
    seal_with(master.as_bytes(), &signing_key_aad(kid), private)
}

pub fn open_signing_key(
    master: &MasterKey,
    kid: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Damaged> {
    open_with(master.as_bytes(), &signing_key_aad(kid), sealed)
}

fn totp_secret_aad(user_id: &str) -> Vec<u8> {
    [b"keyport totp secret v1".as_slice(), user_id.as_bytes()].join(&0u8)
}

/// A user's TOTP secret sealed under the master key, bound to the user's id.
pub fn seal_totp_secret(master: &MasterKey, user_id: &str, secret: &[u8]) -> Vec<u8> {
    seal_with(master.as_bytes(), &totp_secret_aad(user_id), secret)
}

pub fn open_totp_secret(
    master: &MasterKey,
    user_id: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Damaged> {
    open_with(master.as_bytes(), &totp_secret_aad(user_id), sealed)
}

fn provider_token_aad(user_id: &str) -> Vec<u8> {
    [
        b"keyport provider refresh token v1".as_slice(),
        user_id.as_bytes(),
    ]
    .join(&0u8)
}

/// The single sign-on provider's refresh token of a user, sealed under the master key, bound to
/// the user's id.
pub fn seal_provider_token(master: &MasterKey, user_id: &str, token: &[u8]) -> Vec<u8> {
    seal_with(master.as_bytes(), &provider_token_aad(user_id), token)
}

pub fn open_provider_token(
    master: &MasterKey,
    user_id: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Damaged> {
    open_with(master.as_bytes(), &provider_token_aad(user_id), sealed)
}

/// A data key's bytes sealed under the master key, bound to its project: what
/// [`DataKey::wrap`] stores, for re-wrapping without making a `DataKey`.
pub fn seal_data_key(master: &MasterKey, project_id: &str, key: &[u8]) -> Vec<u8> {
    seal_with(master.as_bytes(), &data_key_aad(project_id), key)
}

pub fn open_data_key(
    master: &MasterKey,
    project_id: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Damaged> {
    open_with(master.as_bytes(), &data_key_aad(project_id), sealed)
}

/// A project's data key, in memory only while it is used.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

impl DataKey {
    pub fn generate() -> Self {
        DataKey(Zeroizing::new(random_bytes::<32>()))
    }

    /// The data key encrypted under the master key, bound to its project.
    pub fn wrap(&self, master: &MasterKey, project_id: &str) -> Vec<u8> {
        seal_with(
            master.as_bytes(),
            &data_key_aad(project_id),
            self.0.as_slice(),
        )
    }

    pub fn unwrap(
        master: &MasterKey,
        project_id: &str,
        wrapped: &[u8],
    ) -> Result<DataKey, Damaged> {
        let bytes = open_with(master.as_bytes(), &data_key_aad(project_id), wrapped)?;
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| Damaged)?;
        Ok(DataKey(Zeroizing::new(key)))
    }

    pub fn seal(&self, place: SecretPlace<'_>, secret: &str) -> Vec<u8> {
        seal_with(&self.0, &place.aad(), secret.as_bytes())
    }

    pub fn open(
        &self,
        place: SecretPlace<'_>,
        sealed: &[u8],
    ) -> Result<Zeroizing<String>, Damaged> {
        let bytes = open_with(&self.0, &place.aad(), sealed)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| Damaged)?;
        Ok(Zeroizing::new(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLACE: SecretPlace<'static> = SecretPlace {
        project_id: "p1",
        credential_id: "c1",
        field: "secret",
    };

    #[test]
    fn seals_and_opens() {
        let key = DataKey::generate();
        let sealed = key.seal(PLACE, "wJalrXUtnFEMI/K7MDENG");
        assert_eq!(sealed[0], VERSION);
        assert!(
            !sealed.windows(5).any(|w| w == b"wJalr"),
            "no plaintext in the ciphertext"
        );
        assert_eq!(
            key.open(PLACE, &sealed).unwrap().as_str(),
            "wJalrXUtnFEMI/K7MDENG"
        );
        assert_ne!(
            key.seal(PLACE, "same"),
            key.seal(PLACE, "same"),
            "a fresh nonce each time"
        );
    }

    #[test]
    fn a_totp_secret_opens_only_for_its_user_and_master_key() {
        let master = MasterKey::generate();
        let sealed = seal_totp_secret(&master, "user-1", b"12345678901234567890");
        assert_eq!(
            open_totp_secret(&master, "user-1", &sealed)
                .unwrap()
                .as_slice(),
            b"12345678901234567890"
        );
        assert_eq!(open_totp_secret(&master, "user-2", &sealed), Err(Damaged));
        assert_eq!(
            open_totp_secret(&MasterKey::generate(), "user-1", &sealed),
            Err(Damaged)
        );
    }

    #[test]
    fn a_tampered_ciphertext_does_not_open() {
        let key = DataKey::generate();
        let sealed = key.seal(PLACE, "secret value");
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            assert_eq!(key.open(PLACE, &tampered).unwrap_err(), Damaged, "byte {i}");
        }
        assert_eq!(
            key.open(PLACE, &sealed[..sealed.len() - 1]).unwrap_err(),
            Damaged
        );
        assert_eq!(key.open(PLACE, &[]).unwrap_err(), Damaged);
    }

    #[test]
    fn a_ciphertext_opens_only_where_it_belongs() {
        let key = DataKey::generate();
        let sealed = key.seal(PLACE, "secret value");
        for other in [
            SecretPlace {
                credential_id: "c2",
                ..PLACE
            },
            SecretPlace {
                field: "password",
                ..PLACE
            },
            SecretPlace {
                project_id: "p2",
                ..PLACE
            },
        ] {
            assert_eq!(key.open(other, &sealed).unwrap_err(), Damaged, "{other:?}");
        }
        assert_eq!(
            DataKey::generate().open(PLACE, &sealed).unwrap_err(),
            Damaged,
            "another data key"
        );
    }

    #[test]
    fn data_keys_unwrap_only_with_their_master_key_and_project() {
        let master = MasterKey::generate();
        let key = DataKey::generate();
        let wrapped = key.wrap(&master, "p1");
        let sealed = key.seal(PLACE, "secret value");
        let again = DataKey::unwrap(&master, "p1", &wrapped).unwrap();
        assert_eq!(again.open(PLACE, &sealed).unwrap().as_str(), "secret value");
        assert_eq!(
            DataKey::unwrap(&master, "p2", &wrapped).unwrap_err(),
            Damaged
        );
        assert_eq!(
            DataKey::unwrap(&MasterKey::generate(), "p1", &wrapped).unwrap_err(),
            Damaged
        );
    }

    #[test]
    fn rewrapping_under_a_new_master_key_keeps_secrets() {
        let (old, new) = (MasterKey::generate(), MasterKey::generate());
        let key = DataKey::generate();
        let sealed = key.seal(PLACE, "secret value");
        let rewrapped = DataKey::unwrap(&old, "p1", &key.wrap(&old, "p1"))
            .unwrap()
            .wrap(&new, "p1");
        assert_eq!(
            DataKey::unwrap(&old, "p1", &rewrapped).unwrap_err(),
            Damaged
        );
        let key = DataKey::unwrap(&new, "p1", &rewrapped).unwrap();
        assert_eq!(key.open(PLACE, &sealed).unwrap().as_str(), "secret value");
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        assert_eq!(format!("{:?}", DataKey::generate()), "DataKey([redacted])");
    }
}
