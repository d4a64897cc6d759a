//! Signing in: the password, then a code of the user's app when they enrolled. Refusals are
//! audited, with the email as typed made safe to show.

use crate::{
    db::{self, audit::Actor, users::User},
    domain::audit::AuditAction,
    ops::{
        OpError, Ops, accounts,
        audit::record_instance,
        two_factor::{CodeUsed, use_code},
    },
};

/// What the password step of sign-in leads to.
pub enum FirstStep {
    /// Signed in: no second factor is enrolled.
    SignedIn(User),
    /// The password was right; the code comes next.
    SecondFactor(User),
}

/// A sign-in's first step: the password, then a code when the user enrolled. Refusals are
/// audited (the email typed is the target).
pub async fn password_step(
    ops: &Ops,
    attempt: accounts::SignIn<'_>,
    actor: &Actor,
) -> Result<FirstStep, OpError> {
    let email = attempt.email;
    match accounts::sign_in(ops, attempt).await {
        Ok(user) if !super::sso::password_allowed(ops, &user) => {
            let target = typed(email);
            record_instance(
                ops,
                actor,
                AuditAction::SignInFailed,
                &target,
                "password sign-in is kept for instance administrators",
            )
            .await?;
            Err(OpError::Refused(format!(
                "Sign in with {}: on this Keyport only instance administrators sign in with a password.",
                ops.sso_name().unwrap_or("single sign-on")
            )))
        }
        Ok(user) => {
            if db::two_factor::enrolled(&ops.db, &user.id).await? {
                Ok(FirstStep::SecondFactor(user))
            } else {
                Ok(FirstStep::SignedIn(user))
            }
        }
        Err(OpError::Refused(why)) => {
            let target = typed(email);
            record_instance(ops, actor, AuditAction::SignInFailed, &target, "password").await?;
            Err(OpError::Refused(why))
        }
        Err(e) => Err(e),
    }
}

/// What a visitor typed, made safe to store and show: no control, zero-width or text-direction
/// characters, at most 100.
fn typed(value: &str) -> String {
    value
        .trim()
        .chars()
        .filter(|c| !crate::domain::validate::is_hidden_or_control(*c))
        .take(100)
        .collect()
}

const CODE_REFUSED: &str =
    "This code is not right, or was already used. Type the code your app shows now.";

/// Who passed the password step: the user, and their session epoch then.
pub struct PasswordPassed<'a> {
    pub user_id: &'a str,
    /// A password change (or "sign out everywhere") since then moves it on: the step is void.
    pub session_epoch: i64,
}

/// A sign-in's second step: the code for the user whose password was right. The user must
/// still be enabled and enrolled, with the password they had then.
pub async fn code_step(
    ops: &Ops,
    passed: PasswordPassed<'_>,
    code: &str,
    actor: &Actor,
) -> Result<User, OpError> {
    let user = db::users::find(&ops.db, passed.user_id)
        .await?
        .filter(|u| !u.disabled && u.session_epoch == passed.session_epoch)
        .ok_or_else(|| OpError::Refused(CODE_REFUSED.into()))?;
    let actor = &Actor {
        user_id: Some(user.id.clone()),
        label: user.email.clone(),
        ..actor.clone()
    };
    match use_code(ops, &user, code).await? {
        Some(used) => {
            if used == CodeUsed::Recovery {
                record_instance(ops, actor, AuditAction::RecoveryCodeUse, &user.email, "").await?;
            }
            tracing::info!(user = %user.id, "signed in with a second factor");
            Ok(user)
        }
        None => {
            let email = user.email.clone();
            record_instance(
                ops,
                actor,
                AuditAction::SignInFailed,
                &email,
                "second factor",
            )
            .await?;
            Err(OpError::Refused(CODE_REFUSED.into()))
        }
    }
}
