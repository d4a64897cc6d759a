//! The backend's view of a service's keys (IAM `ListAccessKeys` / `GetAccessKeyLastUsed`), kept
//! for a short while and refreshed in the background: a page shows what is known, waits for a
//! refresh no longer than [`PAGE_WAIT`], and says how old the status it shows is.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::watch;

use super::{OpError, Ops, reconcile};
use crate::{db, db::services::Service};

/// A status younger than this is shown without asking the backend.
pub const FRESH_FOR: Duration = Duration::from_secs(30);

/// The longest a page waits for the backend before it shows what it has.
pub const PAGE_WAIT: Duration = Duration::from_millis(800);

/// Each key as the backend last listed it.
pub type Statuses = Arc<Vec<KnownKey>>;

/// A key as the backend listed it: `Active`/`Inactive`, and its last use as the backend words
/// it (empty when it does not say).
pub struct KnownKey {
    pub access_key: String,
    pub status: String,
    pub last_used: String,
}

impl KnownKey {
    /// Its status in words: "Active, last used 2026-11-29T10:00:00Z".
    pub fn describe(&self) -> String {
        match self.last_used.as_str() {
            "" => self.status.clone(),
            used => format!("{}, last used {used}", self.status),
        }
    }
}

/// What the backend last said about a service's keys.
#[derive(Clone)]
pub struct KeyStatus {
    /// Each key as the backend listed it, as of `at` (Unix seconds).
    pub keys: Option<(i64, Statuses)>,
    /// Why the latest question went unanswered, if it did.
    pub problem: Option<String>,
    /// When the backend was last asked.
    fetched: Instant,
}

#[derive(Default)]
struct Slot {
    latest: Option<watch::Sender<Option<KeyStatus>>>,
    refreshing: bool,
}

#[derive(Default)]
pub struct KeyStatuses {
    slots: Mutex<HashMap<String, Slot>>,
}

impl KeyStatuses {
    /// Marks the status of `service_id` out of date: its keys just changed.
    pub fn forget(&self, service_id: &str) {
        let mut slots = self.slots.lock().expect("key status lock");
        if let Some(sender) = slots.get_mut(service_id).and_then(|s| s.latest.as_ref()) {
            sender.send_modify(|status| {
                if let Some(status) = status {
                    status.fetched = Instant::now() - FRESH_FOR - Duration::from_secs(1);
                }
            });
        }
    }

    /// Marks the status of `service_id` out of date when the returned guard is dropped: at the
    /// end of an operation that changes the service's keys, however it ends.
    pub fn forget_later<'a>(&'a self, service_id: &'a str) -> impl Drop + 'a {
        struct Forget<'a>(&'a KeyStatuses, &'a str);
        impl Drop for Forget<'_> {
            fn drop(&mut self) {
                self.0.forget(self.1);
            }
        }
        Forget(self, service_id)
    }

    /// What is known of `service_id`'s keys, however old, without asking the backend.
    pub fn known(&self, service_id: &str) -> Option<Statuses> {
        let slots = self.slots.lock().expect("key status lock");
        let sender = slots.get(service_id)?.latest.as_ref()?;
        let status = sender.borrow();
        status.as_ref()?.keys.as_ref().map(|(_, keys)| keys.clone())
    }
}

/// The status of `service`'s keys: fresh (`true`), or the latest known (`false`) when the backend
/// does not answer within [`PAGE_WAIT`] (the answer is then kept for the next page); `None` when
/// nothing is known yet.
pub async fn key_status(ops: &Ops, service: &Service) -> Option<(KeyStatus, bool)> {
    let asked = Instant::now();
    let mut receiver = {
        let mut slots = ops.key_statuses.slots.lock().expect("key status lock");
        let slot = slots.entry(service.id.clone()).or_default();
        let sender = slot
            .latest
            .get_or_insert_with(|| watch::channel(None).0)
            .clone();
        let current = sender.borrow().clone();
        if let Some(status) = current.filter(|s| s.fetched.elapsed() < FRESH_FOR) {
            return Some((status, true));
        }
        if !slot.refreshing {
            slot.refreshing = true;
            tokio::spawn(refresh(ops.clone(), service.clone(), sender.clone()));
        }
        sender.subscribe()
    };
    let answered = receiver.wait_for(|s| s.as_ref().is_some_and(|s| s.fetched >= asked));
    let current = tokio::time::timeout(PAGE_WAIT, answered).await.is_ok();
    let status = receiver.borrow().clone();
    status.map(|s| (s, current))
}

/// Asks the backend and keeps its answer (or why there was none).
async fn refresh(ops: Ops, service: Service, sender: watch::Sender<Option<KeyStatus>>) {
    let answer = match reconcile::backend_keys(&ops, &service).await {
        Ok(keys) => Ok(Arc::new(
            keys.into_iter()
                .map(|k| KnownKey {
                    access_key: k.access_key,
                    status: k.status,
                    last_used: k.last_used,
                })
                .collect(),
        )),
        Err(OpError::Backend(e)) => Err(e.to_string()),
        Err(e) => {
            if let OpError::Internal(cause) = &e {
                tracing::error!(
                    error = format!("{cause:#}"),
                    "cannot ask the backend for key status"
                );
            }
            Err(e.message())
        }
    };
    sender.send_modify(|status| {
        let known = status.take().and_then(|s| s.keys);
        *status = Some(match answer {
            Ok(keys) => KeyStatus {
                keys: Some((db::now(), keys)),
                problem: None,
                fetched: Instant::now(),
            },
            // What was known stays, with its age, beside why it could not be renewed.
            Err(problem) => KeyStatus {
                keys: known,
                problem: Some(problem),
                fetched: Instant::now(),
            },
        });
    });
    let mut slots = ops.key_statuses.slots.lock().expect("key status lock");
    if let Some(slot) = slots.get_mut(&service.id) {
        slot.refreshing = false;
    }
}
