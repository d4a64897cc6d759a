//! Password hashing with argon2id at OWASP's recommended parameters (19 MiB, 2 passes, 1 lane).

use std::sync::OnceLock;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::{SaltString, rand_core::OsRng},
};
use zeroize::Zeroizing;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash of a random password, checked when the user is unknown so that both answers take
/// the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking(&super::random_token()).expect("hashing a random password"))
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
    Ok(hash.to_string())
}

/// Hashes a password off the async runtime; returns a PHC string.
pub async fn hash(password: Zeroizing<String>) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
}

/// Checks a password against a stored hash, or against a dummy hash when there is none, in
/// constant time either way. `false` for any mismatch or unreadable hash.
pub async fn verify(password: Zeroizing<String>, stored: Option<String>) -> bool {
    let checked = tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_string());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        let matches = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        known && matches
    })
    .await;
    checked.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_only_the_right_password() {
        let hash = hash(Zeroizing::new("correct horse battery".into()))
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify(
                Zeroizing::new("correct horse battery".into()),
                Some(hash.clone())
            )
            .await
        );
        assert!(!verify(Zeroizing::new("correct horse battery!".into()), Some(hash)).await);
        assert!(!verify(Zeroizing::new("anything".into()), None).await);
        assert!(!verify(Zeroizing::new("anything".into()), Some("not a hash".into())).await);
    }
}
