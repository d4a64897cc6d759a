//! Settings from command-line flags and `KEYPORT_*` environment, with defaults: those of a running
//! portal, and the smaller sets of the commands that open its database without serving it.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use clap::Args;
use ipnet::IpNet;

/// The address the portal listens on when none is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The settings of `keyport serve` (and of `keyport` alone).
#[derive(Args, Clone)]
pub struct Config {
    /// Address and port the portal listens on.
    #[arg(long, env = "KEYPORT_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub master_key: MasterKeySettings,

    /// The address users reach the portal at; `https://` turns on Secure cookies.
    #[arg(long, env = "KEYPORT_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Minutes of inactivity after which a signed-in session ends.
    #[arg(long, env = "KEYPORT_SESSION_IDLE_MINUTES", default_value_t = 120)]
    pub session_idle_minutes: u32,

    /// Token exchanges (`POST /identity/token`) per second from one client address; bursts of
    /// four times as many are allowed. Past it, 429 with `Retry-After`.
    #[arg(
        long,
        env = "KEYPORT_TOKEN_EXCHANGES_PER_SECOND",
        default_value_t = 50,
        value_parser = clap::value_parser!(u32).range(1..=MAX_EXCHANGES_PER_SECOND)
    )]
    pub token_exchanges_per_second: u32,

    /// Token exchanges per second with one API key (or refresh token); bursts of six times as
    /// many are allowed.
    #[arg(
        long,
        env = "KEYPORT_TOKEN_EXCHANGES_PER_KEY",
        default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..=MAX_EXCHANGES_PER_SECOND)
    )]
    pub token_exchanges_per_key: u32,

    /// Seconds a portal process may stay silent before the others of the same database take it
    /// for stopped and finish the operations it left unfinished. It announces itself every third
    /// of this.
    #[arg(
        long,
        env = "KEYPORT_PROCESS_TIMEOUT_SECONDS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u32).range(1..=3600)
    )]
    pub process_timeout_seconds: u32,
    /// Minutes a proof of identity (sign-in, or the password asked again) lasts before showing,
    /// copying or downloading a secret, Regenerate and Delete ask for it again. 0 asks every time.
    #[arg(
        long,
        env = "KEYPORT_STEP_UP_MINUTES",
        default_value_t = 15,
        value_parser = clap::value_parser!(u32).range(0..=1440)
    )]
    pub step_up_minutes: u32,

    /// The largest file, in megabytes, the Buckets console uploads (streamed to S3 through a
    /// temporary file, never held in memory). S3's own limit for one upload is 5 GiB.
    #[arg(
        long,
        env = "KEYPORT_UPLOAD_MAX_MEGABYTES",
        default_value_t = 1024,
        value_parser = clap::value_parser!(u64).range(1..=5120)
    )]
    pub upload_max_megabytes: u64,

    #[command(flatten)]
    pub limits: Limits,

    #[command(flatten)]
    pub reminders: ReminderSettings,

    #[command(flatten)]
    pub sso: SsoSettings,
}

/// Where reminders of keys due for rotation or expiring go: an SMTP server, a webhook, both or
/// neither (then no check runs). Described in README.md, "Reminders".
#[derive(Args, Clone, Default)]
pub struct ReminderSettings {
    /// SMTP server for reminders, in lettre's URL form: `smtp://USER:PASSWORD@HOST:587?tls=required`
    /// (STARTTLS, refused without it), `?tls=opportunistic`, `smtps://HOST:465` (TLS from the
    /// start), or `smtp://HOST:25` with no TLS at all.
    // The value stays out of --help: it may hold the server's password.
    #[arg(
        long,
        env = "KEYPORT_SMTP_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub smtp_url: Option<String>,

    /// The sender of reminder emails, e.g. `Keyport <keyport@example.org>`.
    #[arg(long, env = "KEYPORT_SMTP_FROM", value_name = "ADDRESS")]
    pub smtp_from: Option<String>,

    /// PEM file of certificate authorities the SMTP server's certificate may be issued by,
    /// besides the public ones (a company's own CA).
    #[arg(long, env = "KEYPORT_SMTP_CA_FILE", value_name = "FILE")]
    pub smtp_ca_file: Option<PathBuf>,

    /// URL reminders are POSTed to as JSON with a Slack-compatible `text`. It goes through the
    /// outgoing-request policy (KEYPORT_BACKEND_ALLOWED_NETWORKS) like backend requests.
    // Kept out of --help and logs: webhook URLs often carry their own secret.
    #[arg(
        long,
        env = "KEYPORT_WEBHOOK_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub webhook_url: Option<String>,

    /// File holding the secret that signs webhook requests (`X-Keyport-Signature`): its first line.
    #[arg(long, env = "KEYPORT_WEBHOOK_SECRET_FILE", value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
}

impl fmt::Debug for ReminderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |v: &Option<String>| v.as_ref().map(|_| "[set]");
        f.debug_struct("ReminderSettings")
            .field("smtp_url", &set(&self.smtp_url))
            .field("smtp_from", &self.smtp_from)
            .field("smtp_ca_file", &self.smtp_ca_file)
            .field("webhook_url", &set(&self.webhook_url))
            .field("webhook_secret_file", &self.webhook_secret_file)
            .finish()
    }
}

/// The defaults of single sign-on's settings, for the command line and [`SsoSettings::off`].
mod sso_default {
    pub const NAME: &str = "single sign-on";
    pub const SCOPES: &str = "openid email profile";
    pub const EMAIL_CLAIM: &str = "email";
    pub const NAME_CLAIM: &str = "name";
    pub const GROUPS_CLAIM: &str = "groups";
    pub const PASSWORD_SIGN_IN: &str = "everyone";
    pub const RECHECK_SECONDS: u32 = 300;
    pub const KEY_REFETCH_SECONDS: u64 = 60;
}

/// Single sign-on with an OpenID Connect provider (`docs/security.md`, README "Single sign-on").
/// Off while no issuer is set.
#[derive(Args, Clone, Debug, Default)]
pub struct SsoSettings {
    /// The provider's issuer URL, as its ID tokens name it; its discovery document is read from
    /// `<issuer>/.well-known/openid-configuration`.
    #[arg(long = "oidc-issuer", env = "KEYPORT_OIDC_ISSUER")]
    pub issuer: Option<String>,

    /// The client id Keyport is registered with at the provider.
    #[arg(long = "oidc-client-id", env = "KEYPORT_OIDC_CLIENT_ID")]
    pub client_id: Option<String>,

    /// File holding the client secret (its first line).
    #[arg(
        long = "oidc-client-secret-file",
        env = "KEYPORT_OIDC_CLIENT_SECRET_FILE"
    )]
    pub client_secret_file: Option<PathBuf>,

    /// The provider's name on the sign-in button ("Sign in with ...").
    #[arg(
        long = "oidc-name",
        env = "KEYPORT_OIDC_NAME",
        default_value = sso_default::NAME
    )]
    pub name: String,

    /// Scopes asked for, space-separated; `openid` is always asked.
    #[arg(
        long = "oidc-scopes",
        env = "KEYPORT_OIDC_SCOPES",
        default_value = sso_default::SCOPES
    )]
    pub scopes: String,

    /// Email domains whose users may sign in (comma-separated); empty: any.
    #[arg(
        long = "oidc-allowed-email-domains",
        env = "KEYPORT_OIDC_ALLOWED_EMAIL_DOMAINS",
        value_delimiter = ','
    )]
    pub allowed_email_domains: Vec<String>,

    /// The ID token's claim holding the email, its name, and its groups (or roles).
    #[arg(
        long = "oidc-email-claim",
        env = "KEYPORT_OIDC_EMAIL_CLAIM",
        default_value = sso_default::EMAIL_CLAIM
    )]
    pub email_claim: String,
    #[arg(
        long = "oidc-name-claim",
        env = "KEYPORT_OIDC_NAME_CLAIM",
        default_value = sso_default::NAME_CLAIM
    )]
    pub name_claim: String,
    #[arg(
        long = "oidc-groups-claim",
        env = "KEYPORT_OIDC_GROUPS_CLAIM",
        default_value = sso_default::GROUPS_CLAIM
    )]
    pub groups_claim: String,

    /// Whether a first sign-in links to the existing account of the same email, when the
    /// provider says the email is verified. Off: an existing email refuses the sign-in.
    #[arg(
        long = "oidc-link-by-email",
        env = "KEYPORT_OIDC_LINK_BY_EMAIL",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub link_by_email: bool,

    /// Groups whose members are instance administrators (comma-separated). Empty: the
    /// administrator right is kept in Keyport only.
    #[arg(
        long = "oidc-admin-groups",
        env = "KEYPORT_OIDC_ADMIN_GROUPS",
        value_delimiter = ','
    )]
    pub admin_groups: Vec<String>,

    /// Project roles given by groups: `GROUP=PROJECT-SLUG:ROLE`, comma-separated. In a project
    /// named here the provider decides: its members get the highest role their groups give, and
    /// lose it when no group gives one.
    #[arg(
        long = "oidc-project-roles",
        env = "KEYPORT_OIDC_PROJECT_ROLES",
        value_delimiter = ',',
        value_parser = parse_project_role
    )]
    pub project_roles: Vec<ProjectRoleMapping>,

    /// Who may sign in with a password once single sign-on is on: `everyone`, or `admins`
    /// (instance administrators only, the way in when the provider is down).
    #[arg(
        long = "password-sign-in",
        env = "KEYPORT_PASSWORD_SIGN_IN",
        default_value = sso_default::PASSWORD_SIGN_IN,
        value_parser = ["everyone", "admins"]
    )]
    pub password_sign_in: String,

    /// Seconds between checks of each single sign-on account at the provider (its refresh
    /// token used): a user disabled there loses access within this time.
    #[arg(
        long = "oidc-recheck-seconds",
        env = "KEYPORT_OIDC_RECHECK_SECONDS",
        default_value_t = sso_default::RECHECK_SECONDS,
        value_parser = clap::value_parser!(u32).range(1..=86_400)
    )]
    pub recheck_seconds: u32,

    /// Seconds after fetching the provider's keys before an unknown key id fetches them again.
    /// Not a setting (60); the tests of key rotation shorten it.
    #[arg(skip = sso_default::KEY_REFETCH_SECONDS)]
    pub key_refetch_seconds: u64,
}

/// A group's role in a project, from `KEYPORT_OIDC_PROJECT_ROLES`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectRoleMapping {
    pub group: String,
    pub project: String,
    pub role: String,
}

/// `GROUP=PROJECT-SLUG:ROLE`.
pub fn parse_project_role(value: &str) -> Result<ProjectRoleMapping, String> {
    let wrong =
        || format!("{value:?} is not GROUP=PROJECT-SLUG:ROLE (owner, admin, member or viewer)");
    let (group, rest) = value.trim().rsplit_once('=').ok_or_else(wrong)?;
    let (project, role) = rest.split_once(':').ok_or_else(wrong)?;
    if group.is_empty()
        || project.is_empty()
        || !["owner", "admin", "member", "viewer"].contains(&role)
    {
        return Err(wrong());
    }
    Ok(ProjectRoleMapping {
        group: group.to_string(),
        project: project.to_string(),
        role: role.to_string(),
    })
}

impl SsoSettings {
    /// Defaults, single sign-on off.
    pub fn off() -> Self {
        SsoSettings {
            name: sso_default::NAME.into(),
            scopes: sso_default::SCOPES.into(),
            email_claim: sso_default::EMAIL_CLAIM.into(),
            name_claim: sso_default::NAME_CLAIM.into(),
            groups_claim: sso_default::GROUPS_CLAIM.into(),
            password_sign_in: sso_default::PASSWORD_SIGN_IN.into(),
            recheck_seconds: sso_default::RECHECK_SECONDS,
            key_refetch_seconds: sso_default::KEY_REFETCH_SECONDS,
            ..SsoSettings::default()
        }
    }

    pub fn enabled(&self) -> bool {
        self.issuer.is_some()
    }
}

/// The database: every command that opens it takes these.
#[derive(Args, Clone)]
pub struct DatabaseSettings {
    /// Database to use: `sqlite://PATH` (created if missing) or `postgres://USER:PASSWORD@HOST/DB`.
    // The value stays out of --help: it may hold the database's password.
    #[arg(
        id = "database_url",
        long = "database-url",
        env = "KEYPORT_DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://data/keyport.db",
        value_name = "URL"
    )]
    pub url: String,
}

/// The master key, which opens the secrets in the database.
#[derive(Args, Clone)]
pub struct MasterKeySettings {
    /// File holding the master key (32 bytes, base64). Generated on first run of a new database.
    /// `KEYPORT_MASTER_KEY` (base64) in the environment is used instead when it is set.
    #[arg(
        id = "master_key_file",
        long = "master-key-file",
        env = "KEYPORT_MASTER_KEY_FILE",
        default_value = "data/master.key",
        value_name = "FILE"
    )]
    pub file: PathBuf,

    /// The master key itself, base64 of 32 bytes, instead of the file. Read from the
    /// environment only (`KEYPORT_MASTER_KEY`), never from the command line, where other users
    /// of the machine would see it.
    #[arg(skip = master_key_from_environment())]
    pub value: Option<String>,
}

fn master_key_from_environment() -> Option<String> {
    std::env::var("KEYPORT_MASTER_KEY")
        .ok()
        .filter(|key| !key.is_empty())
}

impl MasterKeySettings {
    /// The key in `file`, whatever the environment holds.
    pub fn file(file: impl Into<PathBuf>) -> Self {
        Self {
            file: file.into(),
            value: None,
        }
    }
}

/// The settings of the commands that work on the portal's data without serving it
/// (`user create`, `master-key rotate`, `api-key create`, `token-key rotate`).
#[derive(Args, Clone, Debug)]
pub struct DataSettings {
    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub master_key: MasterKeySettings,
}

/// Security limits: connections, client addresses behind a proxy, and where backend requests
/// may go. Each is described in `docs/security.md`.
#[derive(Args, Clone, Debug)]
pub struct Limits {
    /// Seconds a client has to send a request's headers, from its first byte.
    #[arg(
        long,
        env = "KEYPORT_HEADER_TIMEOUT_SECONDS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub header_timeout_seconds: u64,

    /// Seconds a client has to send a request's whole body, once its headers are in.
    #[arg(
        long,
        env = "KEYPORT_BODY_TIMEOUT_SECONDS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub body_timeout_seconds: u64,

    /// Seconds an open connection may wait for its next request (keep-alive) before it is closed.
    #[arg(
        long,
        env = "KEYPORT_KEEP_ALIVE_SECONDS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub keep_alive_seconds: u64,

    /// Connections served at once; past it a new connection is answered 503 and closed.
    #[arg(
        long,
        env = "KEYPORT_MAX_CONNECTIONS",
        default_value_t = 512,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub max_connections: u32,

    /// Reverse proxies (addresses or ranges, comma-separated, e.g. `10.0.0.5,fd00::/64`) whose
    /// `Forwarded` or `X-Forwarded-For` header names the client. Empty: the connecting address is
    /// the client.
    #[arg(
        long,
        env = "KEYPORT_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = parse_network
    )]
    pub trusted_proxies: Vec<IpNet>,

    /// Loopback and private addresses or ranges (comma-separated, e.g. `10.20.0.0/16`) that
    /// backend requests, probes and Tests may reach. Link-local and cloud metadata addresses are
    /// refused even when listed.
    #[arg(
        long,
        env = "KEYPORT_BACKEND_ALLOWED_NETWORKS",
        value_delimiter = ',',
        value_parser = parse_network
    )]
    pub backend_allowed_networks: Vec<IpNet>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout_seconds: 10,
            body_timeout_seconds: 30,
            keep_alive_seconds: 30,
            max_connections: 512,
            trusted_proxies: Vec::new(),
            backend_allowed_networks: Vec::new(),
        }
    }
}

impl Limits {
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_seconds)
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_seconds)
    }

    pub fn keep_alive(&self) -> Duration {
        Duration::from_secs(self.keep_alive_seconds)
    }
}

/// An address (`10.0.0.5`, one host) or a range (`10.0.0.0/8`); blanks around it are ignored.
pub fn parse_network(value: &str) -> Result<IpNet, String> {
    let value = value.trim();
    if let Ok(network) = value.parse::<IpNet>() {
        return Ok(network.trunc());
    }
    value
        .parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{value:?} is neither an address nor a range such as 10.0.0.0/8"))
}

/// The highest exchange quota accepted: far above what one portal can serve, and low enough that
/// the bursts (a few times the quota) stay well inside `u32`.
pub const MAX_EXCHANGES_PER_SECOND: i64 = 1_000_000;

impl Config {
    /// A configuration with every default, for a database at `database_url`.
    pub fn new(database_url: impl Into<String>, master_key_file: impl Into<PathBuf>) -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("the default address parses"),
            database: DatabaseSettings {
                url: database_url.into(),
            },
            master_key: MasterKeySettings::file(master_key_file),
            public_url: None,
            session_idle_minutes: 120,
            token_exchanges_per_second: 50,
            token_exchanges_per_key: 10,
            process_timeout_seconds: 30,
            step_up_minutes: 15,
            upload_max_megabytes: 1024,
            limits: Limits::default(),
            reminders: ReminderSettings::default(),
            sso: SsoSettings::off(),
        }
    }

    /// The database and master key of this portal, as the commands that work on its data take them.
    pub fn data(&self) -> DataSettings {
        DataSettings {
            database: self.database.clone(),
            master_key: self.master_key.clone(),
        }
    }

    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url().starts_with("https://")
    }

    /// Where the processes of this host keep their lock files (`db::host_processes`): beside
    /// the SQLite database, else beside the master key file. `None` with a PostgreSQL database
    /// and a master key from the environment: only the heartbeat's timeout tells then.
    pub fn host_lock_dir(&self) -> Option<PathBuf> {
        let beside = |file: &std::path::Path| {
            let dir = file.parent().filter(|d| !d.as_os_str().is_empty());
            dir.unwrap_or(std::path::Path::new(".")).join("processes")
        };
        if let Some(rest) = self
            .database
            .url
            .strip_prefix("sqlite://")
            .or_else(|| self.database.url.strip_prefix("sqlite:"))
        {
            let path = rest.split('?').next().unwrap_or_default();
            return (!path.is_empty() && !path.contains(":memory:"))
                .then(|| beside(std::path::Path::new(path)));
        }
        self.master_key
            .value
            .is_none()
            .then(|| beside(&self.master_key.file))
    }
}

/// The database URL with any password replaced, for logs and messages.
pub fn redact_url(url: &str) -> String {
    let url = match url.split_once('?') {
        Some((base, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                        format!("{name}=[redacted]")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            format!("{base}?{}", query.join("&"))
        }
        None => url.to_string(),
    };
    let url = url.as_str();
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:[redacted]@{host}")
        }
        None => url.to_string(),
    }
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(&self.url))
            .finish()
    }
}

impl fmt::Debug for MasterKeySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeySettings")
            .field("file", &self.file)
            .field("value", &self.value.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database", &self.database)
            .field("master_key", &self.master_key)
            .field("public_url", &self.public_url())
            .field("session_idle_minutes", &self.session_idle_minutes)
            .field(
                "token_exchanges_per_second",
                &self.token_exchanges_per_second,
            )
            .field("token_exchanges_per_key", &self.token_exchanges_per_key)
            .field("process_timeout_seconds", &self.process_timeout_seconds)
            .field("step_up_minutes", &self.step_up_minutes)
            .field("limits", &self.limits)
            .field("reminders", &self.reminders)
            .field("sso", &self.sso)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_database_password() {
        assert_eq!(
            redact_url("postgres://keyport:hunter2@db:5432/keyport"),
            "postgres://keyport:[redacted]@db:5432/keyport"
        );
        assert_eq!(
            redact_url("sqlite://data/keyport.db"),
            "sqlite://data/keyport.db"
        );
    }

    #[test]
    fn networks_are_addresses_or_ranges() {
        assert_eq!(
            parse_network(" 10.0.0.5 ").unwrap().to_string(),
            "10.0.0.5/32"
        );
        assert_eq!(
            parse_network("10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(parse_network("fd00::/64").unwrap().to_string(), "fd00::/64");
        assert_eq!(parse_network("::1").unwrap().to_string(), "::1/128");
        assert!(parse_network("example.org").is_err());
        assert!(parse_network("10.0.0.0/33").is_err());
    }

    #[test]
    fn https_public_url_means_secure_cookies() {
        let mut config = Config::new("sqlite://x.db", "x.key");
        assert!(!config.secure_cookies());
        config.public_url = Some("https://keys.example.org/".into());
        assert!(config.secure_cookies());
        assert_eq!(config.public_url(), "https://keys.example.org");
    }
}
