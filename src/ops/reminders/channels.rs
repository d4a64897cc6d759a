//! Where reminders go: an SMTP server (lettre, STARTTLS over rustls) and a webhook (JSON, signed
//! with HMAC-SHA256, through the outgoing-request policy), built from the settings; the secrets
//! stay in here, and what the settings page shows of them is their host and port.

use std::time::Duration;

use anyhow::{Context, bail};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::{
        client::{Certificate, Tls, TlsParameters},
        extension::ClientId,
    },
};
use zeroize::Zeroizing;

use crate::{
    config::ReminderSettings,
    domain::{
        reminders::{DELIVERY_HEADER, SIGNATURE_HEADER, signature},
        time,
    },
    files::read_secret,
    providers,
};

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

pub(super) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `host:port`, for the page.
    pub(super) server: String,
    security: SmtpSecurity,
    /// The server's certificate is checked against the CAs of this file too.
    ca_file: Option<String>,
}

pub(super) struct Webhook {
    url: Zeroizing<String>,
    /// `scheme://host:port`: a webhook's path often holds its own secret.
    pub(super) shown: String,
    secret: Option<Zeroizing<Vec<u8>>>,
}

/// Where reminders go, from the settings; the secrets stay in here.
#[derive(Default)]
pub struct Channels {
    pub(super) mailer: Option<Mailer>,
    pub(super) webhook: Option<Webhook>,
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
            let secret = read_secret("KEYPORT_WEBHOOK_SECRET_FILE", file)?;
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

pub(super) async fn send_email(
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

pub(super) async fn send_webhook(
    http: &providers::Http,
    webhook: &Webhook,
    delivery_id: &str,
    body: &str,
) -> Result<String, String> {
    let mut request = http
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
        .map_err(|e| providers::not_answered("The webhook", &webhook.url, &e).to_string())?;
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
