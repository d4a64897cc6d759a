//! Operations: one function per use case, under the pages and the API. Each takes the acting
//! [`Principal`] and typed input and returns typed output or an [`OpError`]. Here, and only here,
//! are the authorization decision ([`Principal::require`]), the audit record, every seal and
//! open of a secret, every driver call and every transaction. Callers extract, call one
//! operation, and render.

pub mod accounts;
pub mod admin;
pub mod api_keys;
pub mod apps;
pub mod audit;
pub mod backends;
mod backoff;
pub mod buckets;
pub mod client_config;
pub mod credentials;
pub mod departures;
pub mod endpoints;
mod error;
mod form_tokens;
pub mod key_health;
pub mod key_status;
pub mod lifecycle;
pub mod members;
pub mod principal;
pub mod projects;
pub mod reconcile;
pub mod reminders;
pub mod rotation;
pub mod services;
pub mod sign_in;
pub mod snapshots;
pub mod sso;
pub mod step_up;
#[cfg(test)]
mod tests;
pub mod tokens;
pub mod two_factor;
mod vault;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use crate::{
    crypto::master_key::MasterKey,
    db::{self, Db},
    domain::audit::AuditAction,
    providers::{self, Driver, DriverSettings, Placement},
};

pub use crate::crypto::random_token;
/// The plain records pages and the API see: no ciphertext in any. Credentials are seen as
/// [`CredentialInfo`], never as their rows.
pub use crate::{
    db::{
        api_keys::ApiKey,
        apps::App,
        audit::{Actor, Event, Period},
        backend_users::BackendUserLink,
        projects::{Member, Project},
        services::{Endpoint, Service},
        users::User,
    },
    domain::credentials::{CredentialInfo, Owner},
    providers::{IssuedKey, probe::Verdict},
};
pub use backoff::AccountBackoff;
pub use error::{FieldErrors, OpError};
pub use form_tokens::FormTokens;
pub use principal::{Principal, Subject};
pub use vault::{Field, ProjectId, RowId, rotate_master_key};

/// What operations need: the database, the master key, the client for backends.
#[derive(Clone)]
pub struct Ops {
    db: Db,
    master: Arc<MasterKey>,
    http: providers::Http,
    /// Where Keyport is reached: the issuer of its access tokens.
    public_url: String,
    tokens: Arc<tokens::TokenKeys>,
    /// The backends' view of each service's keys, for a short while.
    key_statuses: Arc<key_status::KeyStatuses>,
    /// Projects' lists, while their version is current.
    snapshots: Arc<snapshots::Snapshots>,
    /// How long another process may stay silent before its unfinished operations are finished here.
    process_timeout: std::time::Duration,
    /// When each address's throttled sign-ins were last recorded: at most one record a minute.
    throttled_sign_ins: Arc<audit::RecentAddresses>,
    /// How long a proof of identity lasts before the operations of `step_up` ask again.
    step_up_window: std::time::Duration,
    /// The signer of visitors' form tokens.
    form_tokens: Arc<FormTokens>,
    /// Set once the first admin exists; it is never unset, so it can be cached.
    setup_done: Arc<AtomicBool>,
    /// Single sign-on, when the instance configured a provider.
    sso: Option<Arc<sso::Sso>>,
    /// A driver that replaces every service's own, for tests of the state machine.
    #[cfg(test)]
    fake_driver: Option<Arc<dyn Driver>>,
}

impl Ops {
    pub fn new(db: Db, master: Arc<MasterKey>, public_url: String) -> Self {
        Ops {
            form_tokens: Arc::new(FormTokens::new(&master)),
            setup_done: Arc::default(),
            step_up_window: std::time::Duration::from_secs(15 * 60),
            db,
            master,
            http: providers::Http::new(providers::OutgoingPolicy::default()),
            public_url,
            tokens: Arc::default(),
            key_statuses: Arc::default(),
            snapshots: Arc::default(),
            process_timeout: std::time::Duration::from_secs(30),
            throttled_sign_ins: Arc::default(),
            sso: None,
            #[cfg(test)]
            fake_driver: None,
        }
    }

    /// Turns on single sign-on with this provider.
    pub fn with_sso(mut self, sso: Option<Arc<sso::Sso>>) -> Self {
        self.sso = sso;
        self
    }

    /// The single sign-on provider's name for its button, when single sign-on is on.
    pub fn sso_name(&self) -> Option<&str> {
        self.sso.as_deref().map(sso::Sso::name)
    }

    /// Sets how long a proof of identity lasts (zero: every guarded operation asks again).
    pub fn with_step_up_window(mut self, window: std::time::Duration) -> Self {
        self.step_up_window = window;
        self
    }

    /// Sets how long another process may stay silent before it is taken for stopped.
    pub fn with_process_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.process_timeout = timeout.max(std::time::Duration::from_secs(1));
        self
    }

    #[cfg(test)]
    pub(crate) fn with_fake_driver(mut self, driver: Arc<dyn Driver>) -> Self {
        self.fake_driver = Some(driver);
        self
    }

    /// Backend requests of these operations may reach the loopback and private `networks`
    /// (besides public addresses); see `providers::http::OutgoingPolicy`.
    pub fn with_backend_networks(mut self, networks: Vec<ipnet::IpNet>) -> Self {
        self.http = providers::Http::new(providers::OutgoingPolicy::new(networks));
        self
    }

    pub fn http(&self) -> &providers::Http {
        &self.http
    }

    pub fn form_tokens(&self) -> &FormTokens {
        &self.form_tokens
    }

    /// Whether the first instance admin exists (the portal is set up); once true, never asked
    /// again.
    pub async fn setup_done(&self) -> Result<bool, OpError> {
        if self.setup_done.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let done = db::settings::get(self.db.pool(), db::settings::SETUP_DONE)
            .await?
            .is_some();
        if done {
            self.setup_done.store(true, Ordering::Relaxed);
        }
        Ok(done)
    }

    /// Closes the database's connections, for a command that is done.
    pub async fn close(&self) {
        self.db.close().await;
    }

    /// Whether the database answers within `timeout` (readiness).
    pub async fn database_answers(&self, timeout: std::time::Duration) -> bool {
        self.db.ping(timeout).await
    }

    /// Writes an event of `who`'s project to the audit log, in `who`'s name.
    pub(crate) async fn record(
        &self,
        who: &Principal,
        action: AuditAction,
        target: &str,
        detail: &str,
    ) -> Result<(), OpError> {
        let project = Some(who.project().id.as_str());
        db::audit::record(&self.db, project, who.actor(), action, target, detail).await?;
        Ok(())
    }

    /// Records a Show, Copy or Download of the secret of `credential_id`: the health page's
    /// record of the credential's use.
    pub(crate) async fn record_use(
        &self,
        who: &Principal,
        action: AuditAction,
        target: &str,
        detail: &str,
        credential_id: &str,
    ) -> Result<(), OpError> {
        let entry = db::audit::Entry {
            project_id: Some(who.project().id.as_str()),
            actor: who.actor(),
            action,
            target,
            detail,
            credential_id: Some(credential_id),
        };
        db::audit::insert(self.db.pool(), &entry).await?;
        Ok(())
    }

    /// The driver of `service`, with its opened `settings`.
    fn driver<'a>(
        &'a self,
        settings: &'a DriverSettings,
        service: &'a Service,
    ) -> Box<dyn Driver + 'a> {
        #[cfg(test)]
        if let Some(fake) = &self.fake_driver {
            return Box::new(Arc::clone(fake));
        }
        providers::driver(settings, placement(service), &self.http)
    }
}

/// Where a service's users live at an OpenStack backend.
pub fn placement(service: &Service) -> Placement<'_> {
    Placement {
        kind: service.kind,
        user_domain: &service.os_user_domain,
        project: &service.os_project_name,
        project_domain: &service.os_project_domain,
    }
}
