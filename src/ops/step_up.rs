//! Step-up: the signed-in user proves again who they are (the password, or a code of their
//! app) before a secret is shown or a way in is made.

use zeroize::Zeroizing;

use crate::{
    db::{audit::Actor, users::User},
    domain::audit::AuditAction,
    ops::{
        FieldErrors, OpError, Ops,
        audit::record_instance,
        two_factor::{CodeUsed, password_matches, use_code},
    },
};

/// What the confirm-identity form holds: the password, or a code when enrolled.
pub struct Proof {
    pub password: Zeroizing<String>,
    pub code: String,
}

/// Step-up: the signed-in user proves again who they are before a secret is shown or changed.
/// The password goes through the same hashing as sign-in; a code is used up like one at sign-in.
pub async fn step_up(ops: &Ops, user: &User, actor: &Actor, proof: Proof) -> Result<(), OpError> {
    let mut errors = FieldErrors::default();
    let proved = if !proof.password.is_empty() {
        password_matches(ops, user, proof.password).await?
    } else if !proof.code.trim().is_empty() {
        match use_code(ops, user, &proof.code).await? {
            Some(CodeUsed::Recovery) => {
                record_instance(ops, actor, AuditAction::RecoveryCodeUse, &user.email, "").await?;
                true
            }
            Some(CodeUsed::Totp) => true,
            None => false,
        }
    } else {
        errors.add("password", "Type your password.");
        return Err(OpError::Invalid(errors));
    };
    if !proved {
        record_instance(ops, actor, AuditAction::StepUpFailed, &user.email, "").await?;
        errors.add(
            "password",
            "This is not your password, or the code is not right.",
        );
        return Err(OpError::Invalid(errors));
    }
    Ok(())
}
