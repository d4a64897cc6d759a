//! Password hashing with argon2id at OWASP's recommended parameters (19 MiB, 2 passes, 1 lane),
//! a few at a time: each takes 19 MiB and a core for a moment, so the process runs at most one
//! per core and lets a bounded number wait; past that it answers [`PasswordError::Busy`] at once.

use std::sync::{
    OnceLock,
    atomic::{AtomicUsize, Ordering},
};

use tokio::sync::Semaphore;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::{SaltString, rand_core::OsRng},
};
use zeroize::Zeroizing;

/// The memory one check takes, in KiB: OWASP's 19 MiB.
pub const CHECK_MEMORY_KIB: u32 = 19 * 1024;

fn argon2() -> Argon2<'static> {
    let params = Params::new(CHECK_MEMORY_KIB, 2, 1, None).expect("valid argon2 parameters");
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

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// As many passwords are being checked and waiting as the process allows.
    #[error("too many passwords are being checked at once")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// How many waiting checks each worker may have before more are refused: at about 50 ms a check,
/// a wait of under a second.
pub const WAITING_PER_WORKER: usize = 16;

/// The process-wide bound on argon2 work.
struct Hashing {
    workers: Semaphore,
    waiting: AtomicUsize,
    most_waiting: usize,
}

fn hashing() -> &'static Hashing {
    static HASHING: OnceLock<Hashing> = OnceLock::new();
    HASHING.get_or_init(|| {
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        Hashing {
            workers: Semaphore::new(workers),
            waiting: AtomicUsize::new(0),
            most_waiting: workers * WAITING_PER_WORKER,
        }
    })
}

/// Leaves the queue when dropped, also when the request waiting in it goes away.
struct Waiting(&'static AtomicUsize);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs `work` on a blocking thread once a worker is free, or refuses at once when the queue is
/// full. The worker stays taken until `work` ends, even if the caller stops waiting.
async fn bounded<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasswordError> {
    let hashing = hashing();
    if hashing.waiting.fetch_add(1, Ordering::SeqCst) >= hashing.most_waiting {
        hashing.waiting.fetch_sub(1, Ordering::SeqCst);
        return Err(PasswordError::Busy);
    }
    let waiting = Waiting(&hashing.waiting);
    let worker = hashing
        .workers
        .acquire()
        .await
        .map_err(|_| PasswordError::Busy)?;
    drop(waiting);
    let done = tokio::task::spawn_blocking(move || {
        let _worker = worker;
        work()
    })
    .await
    .map_err(|e| anyhow::anyhow!("password hashing stopped: {e}"))?;
    Ok(done)
}

/// Hashes a password off the async runtime; returns a PHC string.
pub async fn hash(password: Zeroizing<String>) -> Result<String, PasswordError> {
    Ok(bounded(move || hash_blocking(&password)).await??)
}

/// Checks a password against a stored hash, or against a dummy hash when there is none, in
/// constant time either way. `Ok(false)` for any mismatch or unreadable hash.
pub async fn verify(
    password: Zeroizing<String>,
    stored: Option<String>,
) -> Result<bool, PasswordError> {
    bounded(move || {
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
    .await
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
        let check = |password: &str, stored: Option<String>| {
            verify(Zeroizing::new(password.to_string()), stored)
        };
        assert!(
            check("correct horse battery", Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!check("correct horse battery!", Some(hash)).await.unwrap());
        assert!(!check("anything", None).await.unwrap());
        assert!(!check("anything", Some("not a hash".into())).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_beyond_the_queue_is_refused_at_once_and_the_rest_checked() {
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        // As many as run and wait, 20 more, and one more per worker: a check may end, and free
        // its place, while the burst is still arriving.
        let beyond = 20;
        let burst = workers * (WAITING_PER_WORKER + 1) + workers + beyond;
        let checks: Vec<_> = (0..burst)
            .map(|_| tokio::spawn(verify(Zeroizing::new("guess".into()), None)))
            .collect();
        let mut refused = 0;
        let mut checked = 0;
        for check in checks {
            match check.await.unwrap() {
                Ok(false) => checked += 1,
                Err(PasswordError::Busy) => refused += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!(refused >= beyond, "{refused} refused of {burst}");
        assert!(
            checked >= workers * WAITING_PER_WORKER,
            "{checked} checked of {burst}"
        );
        // Once the burst is over, checks run again.
        assert!(!verify(Zeroizing::new("guess".into()), None).await.unwrap());
    }
}
