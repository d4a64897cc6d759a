//! Per-account backoff of password sign-in, beside the per-address throttle of the pages.

use std::time::Duration;

/// Refused sign-ins with one email before each attempt has to wait.
const FREE_FAILURES: u32 = 10;
/// The longest wait between attempts with one email.
const MAX_DELAY: Duration = Duration::from_secs(60);
/// After this long without a refusal, an email's count starts anew.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Emails remembered at most; past it, quiet ones are forgotten first.
const MOST_ACCOUNTS: usize = 50_000;

/// Per-account backoff of sign-in, beside the per-address throttle: after a few refused
/// sign-ins with an email, each next attempt waits 1, 2, 4 ... up to 60 seconds after the last
/// refusal, from any address; a successful sign-in resets it. Keyed by the email as typed
/// (case-folded), whether or not a user has it, so that it tells nothing about which accounts
/// exist.
#[derive(Default)]
pub struct AccountBackoff {
    accounts: std::sync::Mutex<std::collections::HashMap<String, Failures>>,
}

struct Failures {
    count: u32,
    last: std::time::Instant,
}

impl Failures {
    fn delay(&self) -> Duration {
        match self.count.checked_sub(FREE_FAILURES) {
            None => Duration::ZERO,
            Some(over) => Duration::from_secs(1u64 << over.min(16)).min(MAX_DELAY),
        }
    }
}

fn account_key(email: &str) -> String {
    email.trim().to_lowercase()
}

impl AccountBackoff {
    fn accounts(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Failures>> {
        self.accounts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long a sign-in with `email` must still wait, if it must.
    pub fn wait(&self, email: &str) -> Option<Duration> {
        let accounts = self.accounts();
        let failures = accounts.get(&account_key(email))?;
        let ready = failures.last + failures.delay();
        ready
            .checked_duration_since(std::time::Instant::now())
            .filter(|wait| !wait.is_zero())
    }

    /// A sign-in with `email` was refused.
    pub fn failed(&self, email: &str) {
        let now = std::time::Instant::now();
        let mut accounts = self.accounts();
        if accounts.len() >= MOST_ACCOUNTS {
            accounts.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
        }
        let key = account_key(email);
        if accounts.len() >= MOST_ACCOUNTS && !accounts.contains_key(&key) {
            return;
        }
        let failures = accounts.entry(key).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.duration_since(failures.last) >= FORGET_AFTER {
            failures.count = 0;
        }
        failures.count = failures.count.saturating_add(1);
        failures.last = now;
    }

    /// A sign-in with `email` succeeded: its count starts anew.
    pub fn succeeded(&self, email: &str) {
        self.accounts().remove(&account_key(email));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_after_the_free_failures_and_reset_on_success() {
        let backoff = AccountBackoff::default();
        for _ in 0..FREE_FAILURES {
            assert_eq!(backoff.wait("Ada@Example.org"), None);
            backoff.failed("ada@example.org");
        }
        let first = backoff.wait(" ADA@example.org ").expect("a wait");
        assert!(first <= Duration::from_secs(1), "{first:?}");
        for _ in 0..4 {
            backoff.failed("ada@example.org");
        }
        let later = backoff.wait("ada@example.org").expect("a wait");
        assert!(later > Duration::from_secs(7), "it grows: {later:?}");
        for _ in 0..30 {
            backoff.failed("ada@example.org");
        }
        assert!(backoff.wait("ada@example.org").unwrap() <= MAX_DELAY);
        assert_eq!(
            backoff.wait("bob@example.org"),
            None,
            "other accounts are not held"
        );
        backoff.succeeded("ada@example.org");
        assert_eq!(backoff.wait("ada@example.org"), None);
    }
}
