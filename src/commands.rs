//! Command-line work: `keyport user create`, `api-key create`, `token-key rotate` and
//! `master-key rotate` go through the operations as the pages do; `healthcheck` asks a running
//! portal. `main.rs` parses the arguments and calls these.

use std::io::Read;

use anyhow::{Context, bail};
use zeroize::Zeroizing;

use crate::{
    config::DataSettings,
    crypto::master_key,
    db::{self, Db},
    ops::{
        self, OpError, Ops,
        api_keys::{Created, NewKey},
    },
};

/// The portal's operations over the configured database and master key.
pub async fn open(data: &DataSettings) -> anyhow::Result<Ops> {
    // No public URL: it names the issuer of access tokens, and no command issues one.
    open_at(data, String::new()).await
}

/// The same, for a command whose messages link to the portal at `public_url`.
async fn open_at(data: &DataSettings, public_url: String) -> anyhow::Result<Ops> {
    let db = Db::connect(&data.database.url).await?;
    db.migrate().await?;
    let (master, _) = db::keys::open_master_key(&data.master_key, &db).await?;
    Ok(Ops::new(db, std::sync::Arc::new(master), public_url))
}

pub fn explain(error: OpError) -> anyhow::Error {
    match error {
        OpError::Internal(e) => e,
        e => anyhow::anyhow!(e.message()),
    }
}

/// What `api-key create` is asked for.
pub struct ApiKeyRequest<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub expires: &'a str,
    /// With `app`: the key is that app's, made by `email` (an admin or owner of the project).
    pub project: Option<&'a str>,
    pub app: Option<&'a str>,
}

/// Makes an API key and returns it (the only time it is shown).
pub async fn create_api_key(
    data: &DataSettings,
    request: ApiKeyRequest<'_>,
) -> anyhow::Result<Created> {
    let ops = open(data).await?;
    let user = ops::accounts::find_by_email(&ops, request.email)
        .await
        .map_err(explain)?
        .with_context(|| format!("no user has the email {}", request.email))?;
    if user.disabled {
        bail!("{} is disabled", user.email);
    }
    let actor = ops::principal::command_line_actor(&user);
    let input = NewKey {
        name: request.name.to_string(),
        description: request.description.to_string(),
        expires: request.expires.to_string(),
    };
    let created = match (request.project, request.app) {
        (None, None) => {
            let freshness = ops::step_up::Freshness::CommandLine;
            ops::api_keys::create_personal(&ops, &user, &actor, &freshness, &input).await
        }
        (Some(slug), Some(app_name)) => {
            let who = ops::principal::from_command_line(&ops, &user, slug)
                .await
                .map_err(explain)?
                .with_context(|| format!("{} is not a member of a project {slug}", user.email))?;
            let app = ops::apps::find_by_name(&ops, &who, app_name)
                .await
                .map_err(explain)?
                .with_context(|| format!("the project {slug} has no app {app_name}"))?;
            ops::api_keys::create_for_app(&ops, &who, &app.id, &input).await
        }
        _ => bail!("--project and --app go together"),
    };
    let created = created.map_err(explain)?;
    ops.close().await;
    Ok(created)
}

/// Makes a new key to sign access tokens; returns its kid.
pub async fn rotate_token_key(data: &DataSettings) -> anyhow::Result<String> {
    let ops = open(data).await?;
    let kid = ops::tokens::rotate_signing_key(&ops)
        .await
        .map_err(explain)?;
    ops.close().await;
    Ok(kid)
}

pub async fn rotate_master_key(
    data: &DataSettings,
    new_key_file: &std::path::Path,
) -> anyhow::Result<()> {
    let db = Db::connect(&data.database.url).await?;
    db.migrate().await?;
    let (old, _) = db::keys::open_master_key(&data.master_key, &db).await?;
    let new = master_key::read_file(new_key_file)?;
    if new.id() == old.id() {
        bail!("the new key is the current master key (id {})", old.id());
    }
    let count = ops::rotate_master_key(&db, &old, &new, rotation_pause()).await?;
    println!(
        "re-wrapped {count} project keys under master key {}; the old key (id {}) no longer opens this database.\n\
         Keyport now starts only with the new key: replace {} with {}, or point KEYPORT_MASTER_KEY_FILE at it.",
        new.id(),
        old.id(),
        data.master_key.file.display(),
        new_key_file.display()
    );
    Ok(())
}

/// A test hook: `KEYPORT_TEST_ROTATE_PAUSE_MS` slows the rotation down after each project so that
/// tests can interrupt it. Built only with the `failpoints` feature, which the tests turn on.
#[cfg(feature = "failpoints")]
fn rotation_pause() -> Option<std::time::Duration> {
    std::env::var("KEYPORT_TEST_ROTATE_PAUSE_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(std::time::Duration::from_millis)
}

/// Without the `failpoints` feature the rotation never pauses.
#[cfg(not(feature = "failpoints"))]
fn rotation_pause() -> Option<std::time::Duration> {
    None
}

/// What `reminders run` is given besides the data: where messages go, where the links in them
/// point, and which internal networks the webhook may be on.
pub struct RemindersRequest<'a> {
    pub reminders: &'a crate::config::ReminderSettings,
    pub public_url: &'a str,
    pub backend_networks: Vec<ipnet::IpNet>,
}

/// Checks every key for reminders now and delivers every message that is due, as a serving
/// portal does once a day; returns what was done, in words.
pub async fn run_reminders(
    data: &DataSettings,
    request: RemindersRequest<'_>,
) -> anyhow::Result<String> {
    let channels = ops::reminders::Channels::from_settings(request.reminders, request.public_url)?;
    if channels.is_empty() {
        bail!("no channel is configured: set KEYPORT_SMTP_URL or KEYPORT_WEBHOOK_URL");
    }
    let public_url = request.public_url.trim_end_matches('/').to_string();
    let ops = open_at(data, public_url)
        .await?
        .with_backend_networks(request.backend_networks);
    let done = ops::reminders::run_once(&ops, &channels).await;
    ops.close().await;
    let (checked, delivered) = done.map_err(explain)?;
    Ok(format!(
        "{} conditions found, {} new; {} messages delivered, {} failed (tried again later)",
        checked.found, checked.new, delivered.sent, delivered.failed
    ))
}

/// A plain HTTP/1.0 request to the portal's own `/readyz`, without an HTTP client library.
pub fn healthcheck(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    use std::{io::Write, net::TcpStream, time::Duration};
    let mut address = listen;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(3))
        .with_context(|| format!("nothing answers at {address}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    stream.write_all(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        bail!("not ready: {status}")
    }
}

pub async fn create_user(
    data: &DataSettings,
    email: &str,
    name: &str,
    admin: bool,
) -> anyhow::Result<()> {
    let mut input = Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut input)
        .context("cannot read the password from standard input")?;
    let password = Zeroizing::new(
        input
            .strip_suffix('\n')
            .map(|p| p.strip_suffix('\r').unwrap_or(p))
            .unwrap_or(&input)
            .to_string(),
    );
    let ops = open(data).await?;
    let new = ops::admin::NewUser {
        email,
        name,
        is_admin: admin,
    };
    let password = ops::accounts::NewPassword {
        confirm: password.clone(),
        password,
    };
    let created = ops::admin::create_user_from_command_line(&ops, new, password).await;
    ops.close().await;
    let user = match created {
        Ok(user) => user,
        Err(ops::OpError::Invalid(errors)) => bail!("{}", errors.summary()),
        Err(e) => return Err(explain(e)),
    };
    println!(
        "created user {} ({}){}",
        user.email,
        user.id,
        if admin {
            " as instance administrator"
        } else {
            ""
        }
    );
    Ok(())
}
