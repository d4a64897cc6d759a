//! The read side of a guided rotation: what its page and the API show (the keys, the evidence
//! of their use, the quiet period), and the marks of View Credentials.

use std::sync::Arc;

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::why_not;
use crate::{
    db::{
        self,
        credentials::{Credential, CredentialInfo},
        rotations::Rotation,
        services::Service,
    },
    domain::{roles::CredentialAction, rotation_steps::quiet_words},
    ops::{
        OpError, Ops, Principal,
        client_config::{ConfigChoice, SiteChoice},
        credentials::managed,
    },
    providers::{Deactivation, KeyUse},
    snippets::Snippet,
};

/// A rotation as the pages and the API show it.
pub struct RotationView {
    /// The credential being rotated (the old key).
    pub credential: Arc<CredentialInfo>,
    pub service: Service,
    /// The rotation under way, if any.
    pub rotation: Option<Rotation>,
    /// The second key, once step 1 made it.
    pub new_credential: Option<Arc<CredentialInfo>>,
    /// What the backend can do in step 3.
    pub deactivation: Deactivation,
    /// The evidence of use of the old key, then of the new one.
    pub evidence: Vec<KeyEvidence>,
    /// How the old key stands against the quiet period.
    pub quiet: Option<Quiet>,
    /// Why a rotation cannot be started, when none is under way.
    pub cannot_start: Option<String>,
    /// The second key's configuration snippets (the secret read from the environment or asked
    /// for: View Credentials shows it, audited).
    pub snippets: Vec<Snippet>,
}

/// What is known of one key's use.
pub struct KeyEvidence {
    pub role: &'static str,
    pub credential_id: String,
    pub access_key: String,
    pub enabled: bool,
    /// The backend's record, or why there is none.
    pub backend: Result<KeyUse, String>,
    /// Keyport's own record: its latest Show, Copy or Download, and how many there were.
    pub keyport: Option<KeyportUse>,
}

/// The latest time Keyport opened a key's secret.
pub struct KeyportUse {
    pub at: i64,
    pub action: &'static str,
    pub by: String,
    pub count: i64,
}

/// The old key against the chosen quiet period.
pub struct Quiet {
    pub seconds: i64,
    /// The latest sign of the old key's use (or the start of the rotation).
    pub since: i64,
    /// When the quiet period is over.
    pub until: i64,
    /// Whether the backend records use (and answered): without it, Keyport cannot tell.
    pub backend_records_use: bool,
    /// Quiet for long enough, per the evidence.
    pub reached: bool,
}

impl Quiet {
    pub fn words(&self) -> String {
        quiet_words(self.seconds)
    }
}

/// The rotation of credential `id` (or of the credential whose second key `id` is), if the
/// principal may regenerate it.
pub async fn view(ops: &Ops, who: &Principal, id: &str) -> Result<RotationView, OpError> {
    let project_id = &who.project().id;
    let rotation = db::rotations::involving(&ops.db, project_id, id).await?;
    let old_id = rotation.as_ref().map_or(id, |r| r.credential_id.as_str());
    let (credential, service) = managed(ops, who, old_id, CredentialAction::Regenerate).await?;
    let settings = ops.settings(&service).await?;
    let driver = ops.driver(&settings, &service);
    let deactivation = driver.deactivation();
    let new_credential = match &rotation {
        Some(r) => db::credentials::find(&ops.db, project_id, &r.new_credential_id)
            .await?
            .filter(|c| c.state.is_active()),
        None => None,
    };
    let mut evidence = Vec::new();
    let mut quiet = None;
    if let (Some(r), Some(new)) = (&rotation, &new_credential) {
        let old_evidence = key_evidence(ops, driver.as_ref(), &credential, "old key").await?;
        quiet = Some(quiet_of(r, &old_evidence));
        evidence.push(old_evidence);
        evidence.push(key_evidence(ops, driver.as_ref(), new, "new key").await?);
    }
    let cannot_start = match &rotation {
        Some(_) => None,
        None => why_not(ops, &service, &credential).await?,
    };
    drop(driver);
    let snippets = match &new_credential {
        Some(new) => {
            let endpoints = db::services::endpoints(&ops.db, &service.id).await?;
            let choice = ConfigChoice {
                variant: "without".into(),
                ..ConfigChoice::default()
            };
            SiteChoice::pick(&endpoints, &choice).snippets(who.project(), &service, new, None)
        }
        None => Vec::new(),
    };
    Ok(RotationView {
        snippets,
        credential: credential.info,
        service,
        rotation,
        new_credential: new_credential.map(|c| c.info),
        deactivation,
        evidence,
        quiet,
        cannot_start,
    })
}

/// The evidence of one key's use: the backend's record, and Keyport's own.
pub(super) async fn key_evidence(
    ops: &Ops,
    driver: &dyn crate::providers::Driver,
    credential: &Credential,
    role: &'static str,
) -> Result<KeyEvidence, OpError> {
    let asked = tokio::time::timeout(
        crate::ops::lifecycle::KEY_STATUS_DEADLINE,
        driver.last_use(&credential.access_key),
    )
    .await;
    let backend = match asked {
        Ok(Ok(used)) => Ok(used),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the backend did not answer in time".into()),
    };
    let keyport = db::rotations::keyport_use(&ops.db, &credential.project_id, &credential.id)
        .await?
        .map(|(at, action, by, count)| KeyportUse {
            at,
            action: match action.as_str() {
                "credential.copy" => "Copy",
                "credential.download" => "Download",
                _ => "Show",
            },
            by,
            count,
        });
    Ok(KeyEvidence {
        role,
        credential_id: credential.id.clone(),
        access_key: credential.access_key.clone(),
        enabled: credential.enabled,
        backend,
        keyport,
    })
}

/// Unix seconds of a backend's RFC 3339 time.
fn parse_time(value: &str) -> Option<i64> {
    OffsetDateTime::parse(value, &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// How the old key stands against the quiet period: quiet since its latest use known to the
/// backend or to Keyport, and never before the second key existed.
pub(super) fn quiet_of(rotation: &Rotation, old: &KeyEvidence) -> Quiet {
    let backend_use = match &old.backend {
        Ok(KeyUse::Used { at, .. }) => parse_time(at),
        _ => None,
    };
    let backend_records_use = matches!(old.backend, Ok(KeyUse::Used { .. } | KeyUse::Never));
    let since = [
        Some(rotation.started_at),
        backend_use,
        old.keyport.as_ref().map(|k| k.at),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(rotation.started_at);
    let until = since + rotation.quiet_seconds;
    Quiet {
        seconds: rotation.quiet_seconds,
        since,
        until,
        backend_records_use,
        reached: backend_records_use && db::now() >= until,
    }
}

/// For View Credentials: each credential of the project that takes part in a rotation, with
/// how the page marks it ("step 2 of a rotation: old key").
pub async fn marks(
    ops: &Ops,
    who: &Principal,
) -> Result<std::collections::HashMap<String, String>, OpError> {
    let mut marks = std::collections::HashMap::new();
    for rotation in db::rotations::of_project(&ops.db, &who.project().id).await? {
        let step = rotation.step.number();
        let words = if rotation.step.is_resting() {
            format!("rotation step {step}")
        } else {
            format!("rotation step {step}: under way")
        };
        marks.insert(
            rotation.new_credential_id.clone(),
            format!("{words} (new key)"),
        );
        marks.insert(rotation.credential_id, format!("{words} (old key)"));
    }
    Ok(marks)
}
