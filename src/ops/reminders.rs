//! Reminders of keys due for rotation, overdue, expiring soon or expired: a check that records
//! each condition once (the unique key of `reminder_conditions` decides between processes) with
//! its messages in an outbox, and a sender that delivers the outbox by email (SMTP, lettre) and
//! to a webhook (JSON, signed), retrying failures with a growing delay. The settings page shows
//! the configuration, the recent messages, and sends a test message.
//!
//! The guarantee: a condition is recorded exactly once, whatever the number of processes and
//! restarts; each of its messages is handed to its server at least once. It is handed over twice
//! only if a sender stops after the server accepted the message and before the database recorded
//! it (one write), or an attempt outlasts its claim ([`CLAIM`]); the webhook's
//! `X-Keyport-Delivery` header lets a receiver drop such a repeat.

use std::{sync::Arc, time::Duration};

use anyhow::{Context, bail};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::{
        client::{Certificate, Tls, TlsParameters},
        extension::ClientId,
    },
};
use serde_json::json;
use zeroize::Zeroizing;

use super::{OpError, Ops, User, audit::record_instance, lifecycle::failpoint};
use crate::{
    config::ReminderSettings,
    db::{self, audit::Actor, reminders::NewDelivery},
    domain::{
        audit::AuditAction,
        key_health::KeyFacts,
        reminders::{
            About, CHECK_EVERY, CLAIM, DELIVERY_HEADER, SIGNATURE_HEADER, conditions, message,
            retry_delay, signature,
        },
        roles::InstanceAction,
        time,
    },
    ops::principal::require_instance,
    providers,
};

pub use crate::db::reminders::Delivery;

/// How an SMTP connection is protected, as the URL asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://...?tls=required`: STARTTLS, and no mail without it.
    StartTlsRequired,
    /// `smtp://...?tls=opportunistic`: STARTTLS when the server offers it.
    StartTlsOpportunistic,
    /// `smtps://`: TLS from the first byte.
    Tls,
    /// `smtp://` alone: no encryption.
    None,
}

impl SmtpSecurity {
    /// What `url` asks for (lettre reads the same parameter the same way).
    pub fn of(url: &url::Url) -> SmtpSecurity {
        let tls = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.to_string());
        match (url.scheme(), tls.as_deref()) {
            ("smtps", _) => SmtpSecurity::Tls,
            (_, Some("required")) => SmtpSecurity::StartTlsRequired,
            (_, Some("opportunistic")) => SmtpSecurity::StartTlsOpportunistic,
            _ => SmtpSecurity::None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SmtpSecurity::StartTlsRequired => "STARTTLS, required",
            SmtpSecurity::StartTlsOpportunistic => "STARTTLS when the server offers it",
            SmtpSecurity::Tls => "TLS from the start (smtps)",
            SmtpSecurity::None => "none: mail and password travel in clear text",
        }
    }
}

struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `host:port`, for the page.
    server: String,
    security: SmtpSecurity,
    /// The server's certificate is checked against the CAs of this file too.
    ca_file: Option<String>,
}

struct Webhook {
    url: Zeroizing<String>,
    /// `scheme://host:port`: a webhook's path often holds its own secret.
    shown: String,
    secret: Option<Zeroizing<Vec<u8>>>,
}

/// Where reminders go, from the settings; the secrets stay in here.
#[derive(Default)]
pub struct Channels {
    mailer: Option<Mailer>,
    webhook: Option<Webhook>,
}

/// How long an SMTP exchange may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

impl Channels {
    /// The channels the settings configure; an error names the setting that is wrong, never
    /// its value. Keyport greets the SMTP server with the host name of `public_url` (when it
    /// is a name, not an address).
    pub fn from_settings(
        settings: &ReminderSettings,
        public_url: &str,
    ) -> anyhow::Result<Channels> {
        let mailer = match &settings.smtp_url {
            Some(url) if !url.trim().is_empty() => Some(mailer(settings, url.trim(), public_url)?),
            _ => None,
        };
        let webhook = match &settings.webhook_url {
            Some(url) if !url.trim().is_empty() => Some(webhook(settings, url.trim())?),
            _ => None,
        };
        Ok(Channels { mailer, webhook })
    }

    pub fn is_empty(&self) -> bool {
        self.mailer.is_none() && self.webhook.is_none()
    }

    /// The configuration as the settings page shows it: no password, no webhook path, no secret.
    pub fn describe(&self) -> Configuration {
        Configuration {
            email: self.mailer.as_ref().map(|m| EmailConfiguration {
                server: m.server.clone(),
                security: m.security.label(),
                from: m.from.to_string(),
                ca_file: m.ca_file.clone(),
            }),
            webhook: self.webhook.as_ref().map(|w| WebhookConfiguration {
                address: w.shown.clone(),
                signed: w.secret.is_some(),
            }),
        }
    }
}

fn mailer(settings: &ReminderSettings, url: &str, public_url: &str) -> anyhow::Result<Mailer> {
    let parsed = url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "smtp" | "smtps") && u.host_str().is_some())
        .context("KEYPORT_SMTP_URL is not an SMTP URL (smtp://HOST:PORT?tls=required)")?;
    let host = parsed.host_str().unwrap_or_default().to_string();
    let security = SmtpSecurity::of(&parsed);
    let from = settings
        .smtp_from
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .context("KEYPORT_SMTP_URL is set: set KEYPORT_SMTP_FROM to the sender's address too")?;
    let from: Mailbox = from
        .trim()
        .parse()
        .context("KEYPORT_SMTP_FROM is not an email address (Name <name@example.org>)")?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|e| anyhow::anyhow!("KEYPORT_SMTP_URL cannot be used: {e}"))?
        .timeout(Some(SMTP_TIMEOUT));
    if let Some(url::Host::Domain(name)) = url::Url::parse(public_url)
        .ok()
        .as_ref()
        .and_then(|u| u.host())
        .map(|h| h.to_owned())
    {
        builder = builder.hello_name(ClientId::Domain(name));
    }
    let mut ca_file = None;
    if let Some(file) = &settings.smtp_ca_file {
        let pem = std::fs::read(file)
            .with_context(|| format!("cannot read KEYPORT_SMTP_CA_FILE {}", file.display()))?;
        let certificate = Certificate::from_pem(&pem)
            .map_err(|e| anyhow::anyhow!("KEYPORT_SMTP_CA_FILE holds no PEM certificate: {e}"))?;
        let parameters = TlsParameters::builder(host.clone())
            .add_root_certificate(certificate)
            .build_rustls()
            .map_err(|e| anyhow::anyhow!("KEYPORT_SMTP_CA_FILE cannot be used: {e}"))?;
        builder = builder.tls(match security {
            SmtpSecurity::StartTlsRequired => Tls::Required(parameters),
            SmtpSecurity::StartTlsOpportunistic => Tls::Opportunistic(parameters),
            SmtpSecurity::Tls => Tls::Wrapper(parameters),
            SmtpSecurity::None => {
                bail!("KEYPORT_SMTP_CA_FILE is set but KEYPORT_SMTP_URL asks for no TLS")
            }
        });
        ca_file = Some(file.display().to_string());
    }
    let port = parsed.port().unwrap_or(match security {
        SmtpSecurity::None => 25,
        SmtpSecurity::Tls => 465,
        _ => 587,
    });
    Ok(Mailer {
        transport: builder.build(),
        from,
        server: format!("{host}:{port}"),
        security,
        ca_file,
    })
}

fn webhook(settings: &ReminderSettings, url: &str) -> anyhow::Result<Webhook> {
    let parsed = url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .context("KEYPORT_WEBHOOK_URL is not an http:// or https:// URL")?;
    let shown = format!(
        "{}://{}:{}",
        parsed.scheme(),
        parsed.host_str().unwrap_or_default(),
        parsed.port_or_known_default().unwrap_or(0)
    );
    let secret = match &settings.webhook_secret_file {
        Some(file) => {
            let text = Zeroizing::new(std::fs::read_to_string(file).with_context(|| {
                format!("cannot read KEYPORT_WEBHOOK_SECRET_FILE {}", file.display())
            })?);
            let secret = text.trim();
            if secret.len() < 16 {
                bail!("KEYPORT_WEBHOOK_SECRET_FILE holds fewer than 16 characters");
            }
            Some(Zeroizing::new(secret.as_bytes().to_vec()))
        }
        None => None,
    };
    Ok(Webhook {
        url: Zeroizing::new(url.to_string()),
        shown,
        secret,
    })
}

/// The configuration, for the settings page.
pub struct Configuration {
    pub email: Option<EmailConfiguration>,
    pub webhook: Option<WebhookConfiguration>,
}

pub struct EmailConfiguration {
    pub server: String,
    pub security: &'static str,
    pub from: String,
    pub ca_file: Option<String>,
}

pub struct WebhookConfiguration {
    pub address: String,
    pub signed: bool,
}

/// What a check found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Conditions the keys are in.
    pub found: usize,
    /// Of those, the ones recorded by this check (the others were recorded before).
    pub new: usize,
}

/// What a round of deliveries did.
#[derive(Debug, Default)]
pub struct DeliveryReport {
    pub sent: usize,
    pub failed: usize,
}

/// Finds every condition of every key of the instance and records the new ones with their
/// messages. With no channel configured nothing is recorded: a condition recorded then would
/// never be told.
pub async fn check(ops: &Ops, channels: &Channels) -> Result<CheckReport, OpError> {
    let mut report = CheckReport::default();
    if channels.is_empty() {
        return Ok(report);
    }
    let now = time::now();
    for key in db::key_health::instance(&ops.db).await? {
        let facts = KeyFacts {
            last_change: key.last_change(),
            expires_at: key.expires_at,
            enabled: key.enabled,
            active: key.state.is_active(),
            last_used: key.last_used,
            damaged_at: key.damaged_at,
        };
        for condition in conditions(&key.service.policy, &facts, now) {
            report.found += 1;
            let kind = condition.kind.as_str();
            let due_at = condition.deadline.at;
            if db::reminders::known(&ops.db, &key.id, kind, due_at).await? {
                continue;
            }
            let link = format!(
                "{}/projects/{}/credentials?service={}",
                ops.public_url, key.service.project_slug, key.service.id
            );
            let about = About {
                project_name: &key.service.project_name,
                service_name: &key.service.name,
                key_name: &key.name,
                owner_name: &key.owner_name,
                link: &link,
            };
            let (subject, text) = message(&about, &condition);
            let mut deliveries = Vec::new();
            if channels.mailer.is_some() {
                let recipients = db::reminders::recipients(&ops.db, &key.id).await?;
                if !recipients.is_empty() {
                    deliveries.push(NewDelivery {
                        channel: "email",
                        recipients: recipients.join(", "),
                        subject: subject.clone(),
                        body: text.clone(),
                    });
                }
            }
            if channels.webhook.is_some() {
                let body = json!({
                    "text": format!("{subject}\n{text}"),
                    "keyport": {
                        "kind": kind,
                        "due_at": due_at,
                        "due_day": time::day(due_at),
                        "project": key.service.project_slug,
                        "service": key.service.name,
                        "service_id": key.service.id,
                        "credential": key.name,
                        "credential_id": key.id,
                        "link": link,
                    }
                });
                deliveries.push(NewDelivery {
                    channel: "webhook",
                    recipients: String::new(),
                    subject: subject.clone(),
                    body: body.to_string(),
                });
            }
            if db::reminders::record(&ops.db, &key.id, kind, due_at, &deliveries).await? {
                report.new += 1;
                tracing::info!(credential = %key.id, kind, due_at, messages = deliveries.len(), "reminder condition recorded");
            }
        }
    }
    db::settings::set(ops.db.pool(), db::reminders::LAST_CHECK, &now.to_string()).await?;
    Ok(report)
}

/// Sends every message whose attempt is due and which no other sender holds.
pub async fn deliver_due(ops: &Ops, channels: &Channels) -> Result<DeliveryReport, OpError> {
    let mut report = DeliveryReport::default();
    // Batch after batch until none is due: each message of a batch ends sent, failed (due
    // later) or claimed by another sender, so no batch comes back.
    loop {
        let now = time::now();
        let batch = db::reminders::due(&ops.db, now, BATCH).await?;
        let full = batch.len() as i64 == BATCH;
        for delivery in batch {
            deliver(ops, channels, delivery, &mut report).await?;
        }
        if !full {
            return Ok(report);
        }
    }
}

/// Messages read at once.
const BATCH: i64 = 100;

async fn deliver(
    ops: &Ops,
    channels: &Channels,
    delivery: Delivery,
    report: &mut DeliveryReport,
) -> Result<(), OpError> {
    // The claim counts from now, not from the batch's start: a long batch must not hand out
    // claims that have already run out.
    let now = time::now();
    let until = now + CLAIM.as_secs() as i64;
    if !db::reminders::claim(&ops.db, &delivery.id, now, until).await? {
        return Ok(());
    }
    failpoint("reminder-claimed").await;
    match send(ops, channels, &delivery).await {
        Ok(answer) => {
            db::reminders::mark_sent(&ops.db, &delivery.id, time::now()).await?;
            tracing::info!(delivery = %delivery.id, channel = %delivery.channel, %answer, "reminder delivered");
            report.sent += 1;
        }
        Err(error) => {
            let attempts = delivery.attempts + 1;
            let next = time::now() + retry_delay(attempts).as_secs() as i64;
            db::reminders::mark_failed(&ops.db, &delivery.id, &error, next).await?;
            tracing::warn!(delivery = %delivery.id, channel = %delivery.channel, attempts, %error, "reminder not delivered; it is tried again later");
            report.failed += 1;
        }
    }
    Ok(())
}

/// Sends one message of the outbox; the server's answer, or why it failed.
async fn send(ops: &Ops, channels: &Channels, delivery: &Delivery) -> Result<String, String> {
    match delivery.channel.as_str() {
        "email" => {
            let mailer = channels.mailer.as_ref().ok_or(
                "Email is no longer configured (KEYPORT_SMTP_URL); the message waits for it.",
            )?;
            let recipients: Vec<&str> = delivery.recipients.split(", ").collect();
            send_email(mailer, &recipients, &delivery.subject, &delivery.body).await
        }
        "webhook" => {
            let webhook = channels.webhook.as_ref().ok_or(
                "The webhook is no longer configured (KEYPORT_WEBHOOK_URL); the message waits for it.",
            )?;
            send_webhook(ops, webhook, &delivery.id, &delivery.body).await
        }
        other => Err(format!("A message for an unknown channel {other}.")),
    }
}

async fn send_email(
    mailer: &Mailer,
    recipients: &[&str],
    subject: &str,
    text: &str,
) -> Result<String, String> {
    let mut builder = Message::builder()
        .from(mailer.from.clone())
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for recipient in recipients {
        let mailbox: Mailbox = recipient
            .parse()
            .map_err(|_| format!("{recipient} is not an email address."))?;
        builder = builder.to(mailbox);
    }
    let message = builder
        .body(text.to_string())
        .map_err(|e| format!("The message could not be written: {e}"))?;
    match mailer.transport.send(message).await {
        Ok(response) => {
            let words: Vec<&str> = response.message().collect();
            Ok(format!("{} {}", response.code(), words.join(" ")))
        }
        Err(e) => Err(format!(
            "The SMTP server at {} did not take the message: {e}",
            mailer.server
        )),
    }
}

/// The longest part of a webhook's answer kept.
const ANSWER_CHARS: usize = 200;

async fn send_webhook(
    ops: &Ops,
    webhook: &Webhook,
    delivery_id: &str,
    body: &str,
) -> Result<String, String> {
    let mut request = ops
        .http
        .post(&webhook.url)
        .map_err(|e| e.to_string())?
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(DELIVERY_HEADER, delivery_id)
        .body(body.to_string());
    if let Some(secret) = &webhook.secret {
        request = request.header(
            SIGNATURE_HEADER,
            signature(secret, time::now(), body.as_bytes()),
        );
    }
    let response = request
        .send()
        .await
        .map_err(|e| providers::unreachable("The webhook", &webhook.url, &e).to_string())?;
    let status = response.status();
    if let Some(refusal) = providers::redirected("The webhook", status) {
        return Err(refusal.to_string());
    }
    let text = response.text().await.unwrap_or_default();
    let text: String = text.trim().chars().take(ANSWER_CHARS).collect();
    let answer = format!("HTTP {}: {}", status.as_u16(), text);
    if status.is_success() {
        Ok(answer)
    } else {
        Err(format!(
            "The webhook at {} answered {answer}",
            webhook.shown
        ))
    }
}

/// A channel's answer to the test message.
pub struct TestAnswer {
    /// "Email to ada@example.org", "Webhook at https://hooks.example.org:443".
    pub channel: String,
    pub delivered: bool,
    /// The server's answer, or why it failed.
    pub answer: String,
}

/// Sends a test message to each channel (the email to `admin` alone) now, and returns each
/// server's answer; audited. Nothing is retried: the page shows the answer.
pub async fn send_test(
    ops: &Ops,
    channels: &Channels,
    admin: &User,
    actor: &Actor,
) -> Result<Vec<TestAnswer>, OpError> {
    require_instance(admin, InstanceAction::ManageSettings)?;
    if channels.is_empty() {
        return Err(OpError::Refused(
            "No channel is configured: set KEYPORT_SMTP_URL or KEYPORT_WEBHOOK_URL.".into(),
        ));
    }
    let subject = "Keyport: test message";
    let text = format!(
        "This is a test message from Keyport at {}, sent by {}. Reminders of keys due for rotation or expiring reach this channel.\n",
        ops.public_url, admin.email
    );
    let mut answers = Vec::new();
    if let Some(mailer) = &channels.mailer {
        let result = send_email(mailer, &[admin.email.as_str()], subject, &text).await;
        answers.push(answer(format!("Email to {}", admin.email), result));
    }
    if let Some(webhook) = &channels.webhook {
        let id = format!("test-{}", db::new_id());
        let body = json!({
            "text": format!("{subject}\n{text}"),
            "keyport": { "kind": "test" }
        });
        let result = send_webhook(ops, webhook, &id, &body.to_string()).await;
        answers.push(answer(format!("Webhook at {}", webhook.shown), result));
    }
    let detail: Vec<String> = answers
        .iter()
        .map(|a| {
            let outcome = if a.delivered { "delivered" } else { "failed" };
            format!("{}: {outcome}", a.channel)
        })
        .collect();
    record_instance(
        ops,
        actor,
        AuditAction::RemindersTest,
        "reminders",
        &detail.join("; "),
    )
    .await?;
    Ok(answers)
}

fn answer(channel: String, result: Result<String, String>) -> TestAnswer {
    match result {
        Ok(answer) => TestAnswer {
            channel,
            delivered: true,
            answer,
        },
        Err(answer) => TestAnswer {
            channel,
            delivered: false,
            answer,
        },
    }
}

/// What the settings page shows of reminders.
pub struct Overview {
    pub configuration: Configuration,
    pub last_check: Option<i64>,
    pub unsent: i64,
    pub failing: i64,
    pub recent: Vec<Delivery>,
}

/// Messages the settings page lists.
pub const RECENT: i64 = 20;

pub async fn overview(ops: &Ops, channels: &Channels, admin: &User) -> Result<Overview, OpError> {
    require_instance(admin, InstanceAction::ManageSettings)?;
    let last_check = db::settings::get(ops.db.pool(), db::reminders::LAST_CHECK)
        .await?
        .and_then(|v| v.parse().ok());
    let (unsent, failing) = db::reminders::unsent(&ops.db).await?;
    Ok(Overview {
        configuration: channels.describe(),
        last_check,
        unsent,
        failing,
        recent: db::reminders::recent(&ops.db, RECENT).await?,
    })
}

/// Checks once and delivers, for `keyport reminders run`.
pub async fn run_once(
    ops: &Ops,
    channels: &Channels,
) -> Result<(CheckReport, DeliveryReport), OpError> {
    let checked = check(ops, channels).await?;
    let delivered = deliver_due(ops, channels).await?;
    Ok((checked, delivered))
}

/// How often the sender looks for due messages, and whether a check is due.
const ROUND: Duration = Duration::from_secs(60);

/// The background task of a serving process: every minute, the check when the last one (by any
/// process) is a day old, then the due messages. Off when no channel is configured.
pub fn spawn(ops: Ops, channels: Arc<Channels>) {
    if channels.is_empty() {
        tracing::info!(
            "reminders are off: neither KEYPORT_SMTP_URL nor KEYPORT_WEBHOOK_URL is set"
        );
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ROUND);
        loop {
            tick.tick().await;
            if let Err(e) = round(&ops, &channels).await {
                tracing::warn!(error = %e.message(), "reminders: the round failed; it runs again in a minute");
            }
        }
    });
}

async fn round(ops: &Ops, channels: &Channels) -> Result<(), OpError> {
    let last: Option<i64> = db::settings::get(ops.db.pool(), db::reminders::LAST_CHECK)
        .await?
        .and_then(|v| v.parse().ok());
    let due = last.is_none_or(|at| time::now() - at >= CHECK_EVERY);
    // One process checks at a time; another that finds the lease taken waits for the next round.
    if due && db::instances::take_lease(&ops.db, "reminder-check", Duration::from_secs(600)).await?
    {
        let report = check(ops, channels).await?;
        tracing::info!(
            found = report.found,
            new = report.new,
            "reminders: keys checked"
        );
    }
    deliver_due(ops, channels).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(smtp: &str) -> ReminderSettings {
        ReminderSettings {
            smtp_url: Some(smtp.to_string()),
            smtp_from: Some("Keyport <keyport@example.org>".into()),
            ..ReminderSettings::default()
        }
    }

    #[test]
    fn the_url_says_how_the_mail_is_protected() {
        let of = |u: &str| SmtpSecurity::of(&url::Url::parse(u).unwrap());
        assert_eq!(
            of("smtp://u:p@mail.example.org:587?tls=required"),
            SmtpSecurity::StartTlsRequired
        );
        assert_eq!(
            of("smtp://mail.example.org?tls=opportunistic"),
            SmtpSecurity::StartTlsOpportunistic
        );
        assert_eq!(of("smtps://mail.example.org"), SmtpSecurity::Tls);
        assert_eq!(of("smtp://127.0.0.1:2525"), SmtpSecurity::None);
        let channels = Channels::from_settings(
            &settings("smtp://u:secret@mail.example.org?tls=required"),
            "https://keys.example.org",
        )
        .unwrap();
        let email = channels.describe().email.unwrap();
        assert_eq!(email.server, "mail.example.org:587");
        assert_eq!(email.security, "STARTTLS, required");
        assert!(!email.server.contains("secret"));
    }

    #[test]
    fn wrong_settings_are_named_and_their_values_never_shown() {
        let error =
            |s: ReminderSettings| match Channels::from_settings(&s, "https://keys.example.org") {
                Ok(_) => panic!("refused"),
                Err(e) => format!("{e:#}"),
            };
        let e = error(settings("http://u:secret@mail.example.org"));
        assert!(
            e.contains("KEYPORT_SMTP_URL") && !e.contains("secret"),
            "{e}"
        );
        let mut no_from = settings("smtp://mail.example.org?tls=required");
        no_from.smtp_from = None;
        assert!(error(no_from).contains("KEYPORT_SMTP_FROM"));
        let hook = ReminderSettings {
            webhook_url: Some("ftp://hooks.example.org/secret-path".into()),
            ..ReminderSettings::default()
        };
        let e = error(hook);
        assert!(
            e.contains("KEYPORT_WEBHOOK_URL") && !e.contains("secret-path"),
            "{e}"
        );
        let hook = ReminderSettings {
            webhook_url: Some("https://hooks.example.org/T0/B0/secret-path".into()),
            ..ReminderSettings::default()
        };
        let shown = Channels::from_settings(&hook, "")
            .unwrap()
            .describe()
            .webhook;
        assert_eq!(shown.unwrap().address, "https://hooks.example.org:443");
        assert!(
            Channels::from_settings(&ReminderSettings::default(), "")
                .unwrap()
                .is_empty()
        );
    }
}
