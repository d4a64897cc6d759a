//! A backend in memory: the live keys of each backend user, every call made, and what each
//! method does when called (succeed, fail certainly, or fail uncertainly before or after acting).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use tokio::sync::Notify;
use zeroize::Zeroizing;

use crate::{
    domain::services::CredentialKind,
    providers::{BackendKey, BackendUser, Driver, DriverError, IssuedKey},
};

/// A method of the driver, as the fake records and configures it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    User,
    Choose,
    Issue,
    Revoke,
    IsLive,
    ListKeys,
}

/// What a method does when called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeed,
    /// The backend answered no: nothing changed.
    Refused,
    /// The backend was not reached: nothing changed.
    Unreachable,
    /// No answer in time, and the backend did not act.
    UncertainBefore,
    /// No answer in time, but the backend did act.
    UncertainAfter,
}

/// When a paused call stops: before or after the backend acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    Before,
    After,
}

/// One call the fake received: the method and what it was about (a user or an access key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub method: Method,
    pub about: String,
}

/// A call that stops until released, so that a test can act in between.
struct Pause {
    method: Method,
    moment: Moment,
    reached: Arc<Notify>,
    release: Arc<Notify>,
}

#[derive(Default)]
struct Backend {
    /// Per backend user id: access key → secret, of every key that works now.
    live: HashMap<String, BTreeMap<String, String>>,
    calls: Vec<Call>,
    outcomes: HashMap<Method, Outcome>,
    /// Calls to stop, each once.
    pauses: Vec<Pause>,
    counter: u32,
}

pub struct FakeDriver {
    /// Whether the driver chooses the key (Keystone EC2) or the backend invents it in `issue`
    /// (IAM).
    chooses: bool,
    backend: Mutex<Backend>,
}

impl FakeDriver {
    pub fn new(chooses: bool) -> Arc<FakeDriver> {
        Arc::new(FakeDriver {
            chooses,
            backend: Mutex::default(),
        })
    }

    fn backend(&self) -> std::sync::MutexGuard<'_, Backend> {
        self.backend.lock().expect("the fake backend's lock")
    }

    /// From now on, `method` does `outcome`.
    pub fn set(&self, method: Method, outcome: Outcome) {
        self.backend().outcomes.insert(method, outcome);
    }

    /// The next call of `method` stops at `moment` and tells `reached`; it goes on when the
    /// test notifies `release`. Several calls may be paused at once.
    pub fn pause(&self, method: Method, moment: Moment) -> (Arc<Notify>, Arc<Notify>) {
        let (reached, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        self.backend().pauses.push(Pause {
            method,
            moment,
            reached: Arc::clone(&reached),
            release: Arc::clone(&release),
        });
        (reached, release)
    }

    /// Every access key that works now, of every user, sorted.
    pub fn live(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .backend()
            .live
            .values()
            .flat_map(|keys| keys.keys().cloned())
            .collect();
        keys.sort();
        keys
    }

    /// Whether `access_key` with `secret` works at the backend.
    pub fn works(&self, access_key: &str, secret: &str) -> bool {
        self.backend()
            .live
            .values()
            .any(|keys| keys.get(access_key).is_some_and(|s| s == secret))
    }

    /// A key made at the backend outside Keyport, for `user_id`.
    pub fn plant(&self, user_id: &str, access_key: &str, secret: &str) {
        self.backend()
            .live
            .entry(user_id.to_string())
            .or_default()
            .insert(access_key.to_string(), secret.to_string());
    }

    pub fn calls(&self) -> Vec<Call> {
        self.backend().calls.clone()
    }

    /// The calls that reach the backend (all but `choose`, which is local).
    pub fn backend_calls(&self) -> Vec<Call> {
        let mut calls = self.calls();
        calls.retain(|c| c.method != Method::Choose);
        calls
    }

    pub fn count(&self, method: Method) -> usize {
        self.calls().iter().filter(|c| c.method == method).count()
    }

    pub fn forget_calls(&self) {
        self.backend().calls.clear();
    }

    /// Records the call and says what it does.
    fn enter(&self, method: Method, about: &str) -> Outcome {
        let mut backend = self.backend();
        backend.calls.push(Call {
            method,
            about: about.to_string(),
        });
        backend
            .outcomes
            .get(&method)
            .copied()
            .unwrap_or(Outcome::Succeed)
    }

    /// Waits here if the test paused `method` at `moment`.
    async fn checkpoint(&self, method: Method, moment: Moment) {
        let pause = {
            let mut backend = self.backend();
            let at = backend
                .pauses
                .iter()
                .position(|p| p.method == method && p.moment == moment);
            at.map(|i| backend.pauses.remove(i))
        };
        if let Some(pause) = pause {
            pause.reached.notify_one();
            pause.release.notified().await;
        }
    }

    /// Runs `act` unless `outcome` fails before acting; answers as `outcome` says.
    async fn perform<T>(
        &self,
        method: Method,
        outcome: Outcome,
        act: impl FnOnce(&mut Backend) -> T,
    ) -> Result<T, DriverError> {
        match outcome {
            Outcome::Refused => return Err(DriverError::Refused("the fake refuses".into())),
            Outcome::Unreachable => {
                return Err(DriverError::Unreachable("the fake is unreachable".into()));
            }
            Outcome::UncertainBefore => {
                return Err(DriverError::Uncertain("the fake timed out".into()));
            }
            Outcome::Succeed | Outcome::UncertainAfter => {}
        }
        self.checkpoint(method, Moment::Before).await;
        let done = act(&mut self.backend());
        self.checkpoint(method, Moment::After).await;
        match outcome {
            Outcome::UncertainAfter => Err(DriverError::Uncertain(
                "the fake acted, then timed out".into(),
            )),
            _ => Ok(done),
        }
    }
}

#[async_trait]
impl Driver for FakeDriver {
    fn is_remote(&self) -> bool {
        true
    }

    async fn user(&self, name: &str, _create: bool) -> Result<BackendUser, DriverError> {
        let outcome = self.enter(Method::User, name);
        let id = format!("uid-{name}");
        // The user is not kept: keys are filed under its id whenever they are issued.
        self.perform(Method::User, outcome, |_| ()).await?;
        Ok(BackendUser {
            id,
            name: name.to_string(),
        })
    }

    fn choose(&self, _: CredentialKind, user: &BackendUser, _: Option<&str>) -> Option<IssuedKey> {
        self.enter(Method::Choose, &user.id);
        if !self.chooses {
            return None;
        }
        let mut backend = self.backend();
        backend.counter += 1;
        Some(IssuedKey {
            access_key: format!("EC2CHOSEN{}", backend.counter),
            secret: Zeroizing::new(format!("chosen-secret-{}", backend.counter)),
        })
    }

    async fn issue(
        &self,
        user: &BackendUser,
        _: CredentialKind,
        chosen: Option<&IssuedKey>,
    ) -> Result<IssuedKey, DriverError> {
        let outcome = self.enter(Method::Issue, &user.id);
        let chosen = chosen.map(|k| (k.access_key.clone(), k.secret.to_string()));
        let (access_key, secret) = self
            .perform(Method::Issue, outcome, |b| {
                let key = chosen.unwrap_or_else(|| {
                    b.counter += 1;
                    (
                        format!("AKIAFAKE{}", b.counter),
                        format!("iam-secret-{}", b.counter),
                    )
                });
                b.live
                    .entry(user.id.clone())
                    .or_default()
                    .insert(key.0.clone(), key.1.clone());
                key
            })
            .await?;
        Ok(IssuedKey {
            access_key,
            secret: Zeroizing::new(secret),
        })
    }

    async fn revoke(
        &self,
        user: &BackendUser,
        _: CredentialKind,
        access_key: &str,
        _replaced: bool,
    ) -> Result<(), DriverError> {
        let outcome = self.enter(Method::Revoke, access_key);
        self.perform(Method::Revoke, outcome, |b| {
            // A key that is not there is not an error.
            if let Some(keys) = b.live.get_mut(&user.id) {
                keys.remove(access_key);
            }
        })
        .await
    }

    async fn is_live(
        &self,
        user: &BackendUser,
        _: CredentialKind,
        key: &IssuedKey,
    ) -> Result<bool, DriverError> {
        let outcome = self.enter(Method::IsLive, &key.access_key);
        self.perform(Method::IsLive, outcome, |b| {
            b.live
                .get(&user.id)
                .and_then(|keys| keys.get(&key.access_key))
                .is_some_and(|s| s == key.secret.as_str())
        })
        .await
    }

    async fn list_keys(&self, user: &BackendUser) -> Result<Vec<BackendKey>, DriverError> {
        let outcome = self.enter(Method::ListKeys, &user.id);
        self.perform(Method::ListKeys, outcome, |b| {
            b.live
                .get(&user.id)
                .into_iter()
                .flat_map(|keys| keys.keys())
                .map(|access_key| BackendKey {
                    access_key: access_key.clone(),
                    status: "Active".into(),
                    last_used: String::new(),
                    secret: None,
                })
                .collect()
        })
        .await
    }

    async fn check(&self) -> Result<(), DriverError> {
        Ok(())
    }
}
