//! Step-up, a rule of the operations that show a secret or make a way in (reveal, copy and
//! download, regenerate, delete, a new API key of a member or an app, a new authenticator): the
//! one acting must have proved who they are recently. Each way in tells it its own way
//! ([`Freshness`]): a session by its last proof (sign-in, or the password or a code asked again
//! here) and, when the window is zero, by a one-time grant that a single request can use up;
//! an access token by the API key it was exchanged for (made after a fresh proof); the command
//! line by holding the database and the master key.

use zeroize::Zeroizing;

use crate::{
    crypto::{random_token, sha256_hex},
    db::{self, audit::Actor, users::User},
    domain::{audit::AuditAction, time::now},
    ops::{
        FieldErrors, OpError, Ops,
        audit::record_instance,
        two_factor::{CodeUsed, password_matches, use_code},
    },
};

/// How long after a step-up the one action it was asked for may still follow, when the window
/// is zero ("ask every time").
const GRANT_SECONDS: i64 = 300;

pub use super::principal::Freshness;

impl Ops {
    /// Refuses with [`OpError::StepUpRequired`] unless `freshness` is recent enough; a session's
    /// grant is used up here, by one request only.
    pub(crate) async fn require_fresh(&self, freshness: &Freshness) -> Result<(), OpError> {
        let Freshness::Session {
            user_id,
            proved_at,
            grant,
        } = freshness
        else {
            return Ok(());
        };
        let window = self.step_up_window.as_secs() as i64;
        if window > 0 && proved_at.is_some_and(|at| now() - at < window) {
            return Ok(());
        }
        if let Some(grant) = grant
            && db::step_up::use_grant(&self.db, &sha256_hex(grant), user_id).await?
        {
            return Ok(());
        }
        Err(OpError::StepUpRequired)
    }
}

/// What the confirm-identity form holds: the password, or a code when enrolled.
pub struct Proof {
    pub password: Zeroizing<String>,
    pub code: String,
}

/// Step-up: the signed-in user proves again who they are before a secret is shown or changed.
/// The password goes through the same hashing as sign-in; a code is used up like one at sign-in.
/// Returns the grant of the one action that may follow even when the window is zero: the
/// session keeps it, and [`Ops::require_fresh`] uses it up.
pub async fn step_up(
    ops: &Ops,
    user: &User,
    actor: &Actor,
    proof: Proof,
) -> Result<String, OpError> {
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
    issue_grant(ops, &user.id).await
}

/// A grant of the one guarded action that may follow a proof of identity (a password, a code,
/// or a sign-in again at the OpenID provider); only its hash is kept.
pub(crate) async fn issue_grant(ops: &Ops, user_id: &str) -> Result<String, OpError> {
    let grant = random_token();
    db::step_up::add_grant(&ops.db, &sha256_hex(&grant), user_id, now() + GRANT_SECONDS).await?;
    Ok(grant)
}
