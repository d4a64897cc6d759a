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
pub mod credentials;
mod error;
pub mod key_status;
pub mod lifecycle;
pub mod members;
pub mod projects;
pub mod reconcile;
pub mod services;
pub mod snapshots;
#[cfg(test)]
mod tests;
pub mod tokens;
pub mod two_factor;
mod vault;

use std::sync::Arc;

use crate::{
    crypto::master_key::MasterKey,
    db::{
        self, Db, apps::App, audit::Actor, credentials::Owner, projects::Project,
        services::Service, users::User,
    },
    domain::{
        audit::AuditAction,
        roles::{Action, Role, Whose, allows},
    },
    providers::{self, Driver, DriverSettings, Placement},
};

pub use error::{FieldErrors, OpError};
pub use vault::{Field, ProjectId, RowId};

/// What operations need: the database, the master key, the client for backends.
#[derive(Clone)]
pub struct Ops {
    pub db: Db,
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
    /// A driver that replaces every service's own, for tests of the state machine.
    #[cfg(test)]
    fake_driver: Option<Arc<dyn Driver>>,
}

impl Ops {
    pub fn new(db: Db, master: Arc<MasterKey>, public_url: String) -> Self {
        Ops {
            db,
            master,
            http: providers::Http::new(providers::OutgoingPolicy::default()),
            public_url,
            tokens: Arc::default(),
            key_statuses: Arc::default(),
            snapshots: Arc::default(),
            process_timeout: std::time::Duration::from_secs(30),
            throttled_sign_ins: Arc::default(),
            #[cfg(test)]
            fake_driver: None,
        }
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

    /// Writes an event of `who`'s project to the audit log, in `who`'s name.
    pub(crate) async fn record(
        &self,
        who: &Principal,
        action: AuditAction,
        target: &str,
        detail: &str,
    ) -> Result<(), OpError> {
        let project = Some(who.project.id.as_str());
        db::audit::record(&self.db, project, &who.actor, action, target, detail).await?;
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

/// Who acts in a project: a member (signed in, or through one of their API keys), or one of the
/// project's apps through its API key.
#[derive(Clone, Debug)]
pub struct Principal {
    pub subject: Subject,
    pub project: Project,
    pub role: Role,
    /// Who is acting and from where, for the audit log.
    pub actor: Actor,
}

/// The member or app a principal is.
#[derive(Clone, Debug)]
pub enum Subject {
    Member(User),
    /// An app acts as a member of its project would for its own keys.
    App(App),
}

impl Principal {
    /// The acting member; apps are refused what only people do.
    pub fn member(&self) -> Result<&User, OpError> {
        match &self.subject {
            Subject::Member(user) => Ok(user),
            Subject::App(_) => Err(OpError::Forbidden(
                "Only members of the project may do this.",
            )),
        }
    }

    pub fn may(&self, action: Action) -> bool {
        allows(self.role, action)
    }

    /// Refuses what the principal's role does not allow.
    pub fn require(&self, action: Action) -> Result<(), OpError> {
        if self.may(action) {
            Ok(())
        } else {
            Err(OpError::Forbidden(
                "Your role in this project does not allow this.",
            ))
        }
    }

    /// The owner the principal's own keys belong to.
    pub fn owner(&self) -> Owner {
        match &self.subject {
            Subject::Member(user) => Owner::User(user.id.clone()),
            Subject::App(app) => Owner::App(app.id.clone()),
        }
    }

    pub fn whose(&self, owner: &Owner) -> Whose {
        match (&self.subject, owner) {
            (Subject::Member(user), Owner::User(id)) if user.id == *id => Whose::Own,
            (Subject::App(app), Owner::App(id)) if app.id == *id => Whose::Own,
            _ => Whose::Others,
        }
    }

    /// How credentials name who made them.
    pub fn signature(&self) -> String {
        match &self.subject {
            Subject::Member(user) => format!("{} <{}>", user.name, user.email),
            Subject::App(app) => format!("app {}", app.name),
        }
    }

    /// The name Keyport gives the principal's user at a backend.
    pub fn backend_label(&self) -> &str {
        match &self.subject {
            Subject::Member(user) => user.email.split('@').next().unwrap_or("user"),
            Subject::App(app) => &app.name,
        }
    }
}
