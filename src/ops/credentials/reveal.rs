//! Show, Copy and Download: the secret leaves Keyport only after its record is written.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::{OpError, Ops, Principal, managed};
use crate::{
    db::{
        self,
        credentials::CredentialInfo,
        services::{Endpoint, Service},
    },
    domain::{audit::AuditAction, roles::CredentialAction},
    ops::{Field, ProjectId, RowId, lifecycle::audit_target},
    snippets::Snippet,
};

/// Why the secret is opened, as the audit log says it.
pub enum Purpose<'a> {
    /// Show, on the page.
    Show,
    /// A client configuration copied by the page's script; the snippet's id.
    Copy(&'a str),
    /// A client configuration downloaded; the snippet's id.
    Download(&'a str),
}

pub struct Revealed {
    pub credential: Arc<CredentialInfo>,
    pub service: Service,
    /// `None` when the stored secret does not decrypt (a damaged row); the attempt is audited.
    pub secret: Option<Zeroizing<String>>,
}

/// Opens a credential's secret for `purpose`. Audited before the secret leaves: no record, no
/// reveal.
pub async fn reveal(
    ops: &Ops,
    who: &Principal,
    id: &str,
    purpose: Purpose<'_>,
) -> Result<Revealed, OpError> {
    let (credential, service) = managed(ops, who, id, CredentialAction::Reveal).await?;
    ops.require_fresh(who.freshness()).await?;
    let opened = ops
        .open(
            ProjectId(&who.project().id),
            RowId(&credential.id),
            Field::Secret,
            &credential.secret,
        )
        .await;
    let secret = match opened {
        Ok(secret) => Some(secret),
        Err(OpError::Damaged) => None,
        Err(e) => return Err(e),
    };
    let (action, detail) = match (&purpose, &secret) {
        (Purpose::Show, Some(_)) => (AuditAction::CredentialReveal, ""),
        (Purpose::Show, None) => (AuditAction::CredentialReveal, "damaged"),
        (Purpose::Copy(snippet), _) => (AuditAction::CredentialCopy, *snippet),
        (Purpose::Download(snippet), _) => (AuditAction::CredentialDownload, *snippet),
    };
    if secret.is_none() && !matches!(purpose, Purpose::Show) {
        return Err(OpError::Damaged);
    }
    ops.record_use(
        who,
        action,
        &audit_target(&service.name, &credential.name),
        detail,
        &credential.id,
    )
    .await?;
    Ok(Revealed {
        credential: credential.info,
        service,
        secret,
    })
}

/// One client configuration of a credential. `render` builds it from the credential, its
/// service's endpoints and the secret; it is built without the secret first, and only a
/// configuration that holds the secret gets it, opened and audited as `purpose`.
pub async fn configure(
    ops: &Ops,
    who: &Principal,
    id: &str,
    purpose: Purpose<'_>,
    render: impl Fn(&CredentialInfo, &Service, &[Endpoint], Option<&str>) -> Option<Snippet>,
) -> Result<Option<Snippet>, OpError> {
    let (credential, service) = managed(ops, who, id, CredentialAction::Reveal).await?;
    let endpoints = db::services::endpoints(&ops.db, &service.id).await?;
    let Some(plain) = render(&credential, &service, &endpoints, None) else {
        return Ok(None);
    };
    if !plain.holds_secret {
        return Ok(Some(plain));
    }
    let revealed = reveal(ops, who, id, purpose).await?;
    let secret = revealed.secret.ok_or(OpError::Damaged)?;
    Ok(render(&credential, &service, &endpoints, Some(&secret)))
}
