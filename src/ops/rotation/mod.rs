//! Guided rotation: a credential's key replaced in four steps that may be days apart, with the
//! state on the server (`rotations`), so that every process shows it and it can be resumed or
//! abandoned after a restart.
//!
//! 1. `start`: a second key for the same owner, within the service's limit (an ordinary
//!    credential, made the way Add makes one).
//! 2. Both keys work; the page shows the evidence of use of each ([`evidence`]) and waits until
//!    the old key has been quiet for the chosen time ([`set_quiet`]).
//! 3. `deactivate_old`: the old key is made inactive where the backend can (IAM), or marked
//!    disabled in Keyport where there is no backend; Keystone EC2 has no inactive state, so its
//!    rotation goes from step 2 to step 4. `reactivate_old` goes back to step 2.
//! 4. `delete_old`: the old key is deleted; the second key takes the credential's name.
//!
//! `abandon` puts things back: the old key active and enabled, the second key deleted.
//!
//! Each step writes its intent on the rotation's row (the step under way, who asked, the
//! process) before the backend is called, and its outcome with its audit record after; a step
//! left under way is finished or undone by reconcile ([`resume`]).

mod resume;
mod steps;

pub(crate) use resume::finish_interrupted;
pub use steps::{Abandoned, abandon, deactivate_old, delete_old, reactivate_old};

use std::sync::Arc;

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::{
    FieldErrors, OpError, Ops, Principal,
    credentials::{self, NewKey, managed},
    lifecycle::{audit_target, backend_failed, credential_user, failpoint, requester_json},
};
use crate::{
    db::{
        self,
        audit::Entry,
        credentials::{Credential, CredentialInfo, NewCredential},
        rotations::Rotation,
        services::Service,
    },
    domain::{
        audit::AuditAction,
        roles::CredentialAction,
        rotation_steps::{RotationStep, parse_quiet, quiet_words},
        services::{CredentialKind, CredentialState, ServiceKind},
        validate,
    },
    ops::{
        Field, ProjectId, RowId,
        client_config::{ConfigChoice, SiteChoice},
    },
    providers::{Deactivation, IssuedKey, KeyUse},
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

/// Step 1 as asked: the quiet period, and (for a service without a backend) the new key as
/// its provider gave it.
pub struct StartRotation {
    pub quiet: String,
    pub typed: Option<IssuedKey>,
}

pub struct Started {
    pub credential: Arc<CredentialInfo>,
    pub new_credential: Arc<CredentialInfo>,
    pub service: Service,
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

/// Why the credential cannot be rotated in two keys, if it cannot.
async fn why_not(
    ops: &Ops,
    service: &Service,
    credential: &Credential,
) -> Result<Option<String>, OpError> {
    if !credential.state.is_active() {
        return Ok(Some(
            "Another change to this credential is under way; Reconcile finishes it.".into(),
        ));
    }
    if service.driver.is_remote()
        && service.kind == ServiceKind::OpenStack
        && credential.kind == CredentialKind::Key
    {
        return Ok(Some(
            "A Keystone user has one password: two cannot work at once. Use Regenerate, or rotate an EC2 key pair.".into(),
        ));
    }
    let held = db::credentials::count_for_owner(&ops.db, &service.id, &credential.owner).await?;
    if held >= service.max_keys_per_owner {
        return Ok(Some(format!(
            "{} already holds {held} of the {} keys this service allows for an owner: a second key needs a free place. Delete an unused key, or use Regenerate.",
            credential.owner_name, service.max_keys_per_owner
        )));
    }
    Ok(None)
}

/// The evidence of one key's use: the backend's record, and Keyport's own.
async fn key_evidence(
    ops: &Ops,
    driver: &dyn crate::providers::Driver,
    credential: &Credential,
    role: &'static str,
) -> Result<KeyEvidence, OpError> {
    let asked = tokio::time::timeout(
        super::lifecycle::KEY_STATUS_DEADLINE,
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
fn quiet_of(rotation: &Rotation, old: &KeyEvidence) -> Quiet {
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

/// The quiet period as typed, or the field's error.
fn quiet_seconds(typed: &str) -> Result<i64, OpError> {
    let typed = if typed.trim().is_empty() { "1d" } else { typed };
    parse_quiet(typed).map_err(|message| OpError::field("quiet", message))
}

/// The name of the second key while both exist: the old key's, marked.
fn second_name(name: &str) -> String {
    let base: String = name.chars().take(94).collect();
    format!("{base} (new)")
}

/// Step 1: the second key, for the same owner, within the service's limit. The rotation's row
/// is written first (the intent); the key is made the way Add makes one (its own intent on its
/// row); then the rotation rests at step 2.
pub async fn start(
    ops: &Ops,
    who: &Principal,
    id: &str,
    input: StartRotation,
) -> Result<Started, OpError> {
    let (credential, service) = managed(ops, who, id, CredentialAction::Regenerate).await?;
    ops.require_fresh(who.freshness()).await?;
    let mut errors = FieldErrors::default();
    let typed_quiet = if input.quiet.trim().is_empty() {
        "1d"
    } else {
        input.quiet.as_str()
    };
    let quiet = parse_quiet(typed_quiet).unwrap_or_else(|message| {
        errors.add("quiet", message);
        0
    });
    if let Some(key) = &input.typed {
        if service.driver.is_remote() {
            errors.add(
                "secret",
                "This service's keys are issued by its backend; step 1 asks it for the second key.",
            );
        }
        if let Err(message) =
            validate::label(&key.access_key, "Enter the access key id or user name.")
        {
            errors.add("access_key", message);
        }
        if key.secret.trim().is_empty() || key.secret.len() > 4096 {
            errors.add("secret", "Enter the new secret (at most 4096 characters).");
        }
    }
    errors.into_result()?;
    if db::rotations::involving(&ops.db, &service.project_id, &credential.id)
        .await?
        .is_some()
    {
        return Err(OpError::Refused(
            "This credential is already being rotated: its rotation page shows the step it is at."
                .into(),
        ));
    }
    if let Some(why) = why_not(ops, &service, &credential).await? {
        return Err(OpError::Refused(format!("Nothing was changed: {why}")));
    }
    let new_id = db::new_id();
    let requested_by = requester_json(who.actor());
    if !db::rotations::start(
        &ops.db,
        &service.project_id,
        &credential.id,
        &new_id,
        quiet,
        &who.signature(),
        &requested_by,
    )
    .await?
    {
        return Err(OpError::Busy);
    }
    let name = second_name(&credential.name);
    let made = match input.typed {
        Some(key) => record_typed(ops, who, &service, &credential, &new_id, &name, key).await,
        None => {
            let user = credential_user(ops, &credential).await?;
            let new = NewKey {
                id: &new_id,
                service: &service,
                owner: &credential.owner,
                backend_name: &user.name,
                kind: credential.kind,
                name: &name,
                description: &credential.description,
                expires_at: None,
                created_by: &who.signature(),
                requested_by: who.actor(),
            };
            credentials::add_at_backend(ops, new).await.map(|_| ())
        }
    };
    if let Err(e) = made {
        // No second key row: step 1 did not happen, and the rotation goes. Otherwise the
        // backend may have acted: reconcile finishes or undoes both.
        if db::credentials::find(&ops.db, &service.project_id, &new_id)
            .await?
            .is_none()
        {
            db::rotations::forget_unstarted(&ops.db, &credential.id).await?;
        }
        return Err(e);
    }
    failpoint("after-second-key").await;
    let new_credential = db::credentials::find(&ops.db, &service.project_id, &new_id)
        .await?
        .ok_or(OpError::Busy)?;
    let detail = format!(
        "step 1: second key {} made beside {}; quiet period {}",
        new_credential.access_key,
        credential.access_key,
        quiet_words(quiet)
    );
    let target = audit_target(&service.name, &credential.name);
    let record = Entry {
        project_id: Some(&service.project_id),
        actor: who.actor(),
        action: AuditAction::CredentialRotationStep,
        target: &target,
        detail: &detail,
        credential_id: None,
    };
    if !db::rotations::step_done(
        &ops.db,
        &credential.id,
        RotationStep::Creating,
        RotationStep::BothActive,
        None,
        &record,
    )
    .await?
    {
        return Err(OpError::Busy);
    }
    Ok(Started {
        credential: credential.info,
        new_credential: new_credential.info,
        service,
    })
}

/// The second key of a service without a backend, as its provider gave it: recorded at once.
async fn record_typed(
    ops: &Ops,
    who: &Principal,
    service: &Service,
    credential: &Credential,
    new_id: &str,
    name: &str,
    key: IssuedKey,
) -> Result<(), OpError> {
    let access_key = key.access_key.trim();
    let sealed = ops
        .seal(
            ProjectId(&service.project_id),
            RowId(new_id),
            Field::Secret,
            &key.secret,
        )
        .await?;
    let target = audit_target(&service.name, name);
    let record = Entry {
        project_id: Some(&service.project_id),
        actor: who.actor(),
        action: AuditAction::CredentialImport,
        target: &target,
        detail: access_key,
        credential_id: None,
    };
    let new = NewCredential {
        id: new_id,
        project_id: &service.project_id,
        service_id: &service.id,
        owner: &credential.owner,
        kind: credential.kind,
        name,
        description: &credential.description,
        access_key,
        secret: &sealed,
        expires_at: None,
        created_by: &who.signature(),
        state: CredentialState::Active,
        backend_user: "",
        requested_by: "",
    };
    db::credentials::create(&ops.db, new, service.max_keys_per_owner, Some(&record)).await?;
    Ok(())
}

/// Changes how long the old key must have gone unused before step 3 is offered.
pub async fn set_quiet(ops: &Ops, who: &Principal, id: &str, typed: &str) -> Result<i64, OpError> {
    let (credential, service, _) = resting(ops, who, id, CredentialAction::Regenerate).await?;
    let seconds = quiet_seconds(typed)?;
    if !db::rotations::set_quiet(&ops.db, &credential.id, seconds).await? {
        return Err(OpError::Busy);
    }
    db::audit::record(
        &ops.db,
        Some(&service.project_id),
        who.actor(),
        AuditAction::CredentialRotationStep,
        &audit_target(&service.name, &credential.name),
        &format!("step 2: quiet period set to {}", quiet_words(seconds)),
    )
    .await?;
    Ok(seconds)
}

/// The credential `id`'s rotation at rest, if the principal may do `action` to the credential
/// (step-up checked): the old key's credential, its service and the rotation.
async fn resting(
    ops: &Ops,
    who: &Principal,
    id: &str,
    action: CredentialAction,
) -> Result<(Credential, Service, Rotation), OpError> {
    let rotation = db::rotations::involving(&ops.db, &who.project().id, id).await?;
    let old_id = rotation.as_ref().map_or(id, |r| r.credential_id.as_str());
    let (credential, service) = managed(ops, who, old_id, action).await?;
    ops.require_fresh(who.freshness()).await?;
    let rotation = rotation.ok_or_else(|| {
        OpError::Refused("This credential is not being rotated: step 1 starts a rotation.".into())
    })?;
    if !rotation.step.is_resting() {
        return Err(OpError::Busy);
    }
    Ok((credential, service, rotation))
}

/// Refuses Regenerate, Delete and a change of the enabled flag of a credential that takes part
/// in a rotation: the rotation's steps do those.
pub(crate) async fn refuse_if_rotating(ops: &Ops, credential: &Credential) -> Result<(), OpError> {
    match db::rotations::involving(&ops.db, &credential.project_id, &credential.id).await? {
        Some(_) => Err(OpError::Refused(
            "Nothing was changed: this key takes part in a rotation in two keys. Finish or abandon the rotation first (Rotate with two keys)."
                .into(),
        )),
        None => Ok(()),
    }
}

/// The backend failed during a step whose intent was written: a certain failure puts the
/// rotation back at `from`; an uncertain one leaves the step for reconcile.
async fn step_failed<T>(
    ops: &Ops,
    rotation: &Rotation,
    under_way: RotationStep,
    from: RotationStep,
    error: crate::providers::DriverError,
) -> Result<T, OpError> {
    let restore = db::rotations::advance(&ops.db, &rotation.credential_id, under_way, from, "");
    backend_failed(error, restore).await
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
