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

mod channels;

use std::{sync::Arc, time::Duration};

use serde_json::json;

use super::{OpError, Ops, User, audit::record_instance, lifecycle::failpoint};
use crate::{
    db::{self, audit::Actor, reminders::NewDelivery},
    domain::{
        audit::AuditAction,
        reminders::{About, CHECK_EVERY, CLAIM, conditions, message, retry_delay},
        roles::InstanceAction,
        time,
    },
    ops::principal::require_instance,
};

pub use crate::db::reminders::Delivery;
pub use channels::{
    Channels, Configuration, EmailConfiguration, SmtpSecurity, WebhookConfiguration,
};
use channels::{send_email, send_webhook};

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
/// messages. A condition with no message to send (no channel configured; email only, and
/// nobody to write to) is not recorded: recorded then, it would never be told.
pub async fn check(ops: &Ops, channels: &Channels) -> Result<CheckReport, OpError> {
    let mut report = CheckReport::default();
    if channels.is_empty() {
        return Ok(report);
    }
    let now = time::now();
    for key in db::key_health::instance(&ops.db).await? {
        let facts = key.facts();
        // Read once per key, when a condition of it is new.
        let mut recipients: Option<Vec<String>> = None;
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
                if recipients.is_none() {
                    recipients = Some(db::reminders::recipients(&ops.db, &key.id).await?);
                }
                let recipients = recipients.as_deref().unwrap_or_default();
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
            if deliveries.is_empty() {
                tracing::info!(credential = %key.id, kind, due_at, "reminder condition not recorded: the key has nobody to write to");
                continue;
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
            send_webhook(&ops.http, webhook, &delivery.id, &delivery.body).await
        }
        other => Err(format!("A message for an unknown channel {other}.")),
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
        let result = send_webhook(&ops.http, webhook, &id, &body.to_string()).await;
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
    let last_check = last_check(ops).await?;
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

/// When any process last checked the keys.
async fn last_check(ops: &Ops) -> Result<Option<i64>, OpError> {
    Ok(db::settings::get(ops.db.pool(), db::reminders::LAST_CHECK)
        .await?
        .and_then(|v| v.parse().ok()))
}

async fn round(ops: &Ops, channels: &Channels) -> Result<(), OpError> {
    let last = last_check(ops).await?;
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
