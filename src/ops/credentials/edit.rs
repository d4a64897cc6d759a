//! Edit a credential's name, description, expiry and whether it is enabled.

use std::sync::Arc;

use super::{NAME_HINT, OpError, Ops, Principal, check_details, managed};
use crate::{
    db::{self, credentials::CredentialInfo, services::Service},
    domain::{audit::AuditAction, roles::CredentialAction},
    ops::{FieldErrors, lifecycle},
};

/// The details of a credential that may change, as typed.
pub struct Edit {
    pub name: String,
    pub description: String,
    /// `YYYY-MM-DD`, or empty.
    pub expires: String,
    pub enabled: bool,
}

/// The credential as it is, for the edit form.
pub async fn edit_form(
    ops: &Ops,
    who: &Principal,
    id: &str,
) -> Result<(Arc<CredentialInfo>, Service), OpError> {
    let (credential, service) = managed(ops, who, id, CredentialAction::Edit).await?;
    Ok((credential.info, service))
}

/// Saves a credential's name, description, expiry and whether it is enabled.
pub async fn edit(
    ops: &Ops,
    who: &Principal,
    id: &str,
    input: Edit,
) -> Result<(Arc<CredentialInfo>, Service), OpError> {
    let (credential, service) = managed(ops, who, id, CredentialAction::Edit).await?;
    let mut errors = FieldErrors::default();
    let (name, description, expires_at) = check_details(
        &mut errors,
        (&input.name, NAME_HINT),
        &input.description,
        &input.expires,
    );
    if input.enabled != credential.enabled
        && crate::ops::rotation::refuse_if_rotating(ops, &credential)
            .await
            .is_err()
    {
        errors.add(
            "enabled",
            "This key takes part in a rotation in two keys: its steps enable and disable it.",
        );
    }
    errors.into_result()?;
    db::credentials::update_details(
        &ops.db,
        &credential.id,
        &name,
        &description,
        input.enabled,
        expires_at,
    )
    .await?;
    ops.record(
        who,
        AuditAction::CredentialUpdate,
        &lifecycle::audit_target(&service.name, &name),
        if input.enabled { "enabled" } else { "disabled" },
    )
    .await?;
    Ok((credential.info, service))
}
