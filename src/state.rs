//! What every handler shares, pages and API alike: the settings and the operations. It sits low
//! so that both sides import it and neither imports the other; `app` assembles them.

use std::{ops::Deref, sync::Arc, time::Duration};

use crate::{
    config::Config,
    ops::{AccountBackoff, Ops, reminders},
};

/// What every handler shares, behind one `Arc`: extractors and middleware take a copy of the
/// state for every request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub config: Arc<Config>,
    /// Every use case; handlers call these and nothing below them.
    pub ops: Ops,
    /// Sign-in attempts per email, beside the per-address throttle.
    pub sign_in_backoff: AccountBackoff,
    /// Where reminders go (SMTP, webhook), with their secrets.
    pub reminders: Arc<reminders::Channels>,
}

impl AppState {
    pub fn new(config: Config, ops: Ops, reminders: reminders::Channels) -> Self {
        let ops = ops
            .with_process_timeout(Duration::from_secs(config.process_timeout_seconds.into()))
            .with_backend_networks(config.limits.backend_allowed_networks.clone())
            .with_step_up_window(Duration::from_secs(u64::from(config.step_up_minutes) * 60));
        Self(Arc::new(Shared {
            ops,
            config: Arc::new(config),
            sign_in_backoff: AccountBackoff::default(),
            reminders: Arc::new(reminders),
        }))
    }
}
