//! A user's codes: the TOTP of their sealed secret (a code accepted once per time step, within
//! one step of skew) and their one-time recovery codes.

use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};
use zeroize::Zeroizing;

use super::{DIGITS, ISSUER, SKEW_STEPS, STEP_SECONDS};
use crate::{
    crypto::{password, sha256_hex},
    db::{self, keys::UnderMaster, users::User},
    ops::{OpError, Ops},
};

pub(super) fn totp(secret: &[u8], user: &User) -> Result<TOTP, OpError> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP_SECONDS,
        secret.to_vec(),
        Some(ISSUER.to_string()),
        user.email.clone(),
    )
    .map_err(|e| OpError::Internal(anyhow::anyhow!("a TOTP secret was refused: {e:?}")))
}

pub(super) async fn open_secret(
    ops: &Ops,
    user: &User,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpError> {
    ops.open_under_master(UnderMaster::TotpSecret { user_id: &user.id }, sealed)
        .map_err(|_| {
            OpError::Internal(anyhow::anyhow!(
                "the two-factor secret of user {} does not open with the master key",
                user.id
            ))
        })
}

/// The time step whose code `code` is, within the skew, or `None`. Compared in constant time.
pub(super) fn matching_step(totp: &TOTP, code: &str) -> Option<i64> {
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = db::now();
    let current = now / STEP_SECONDS as i64;
    (current - SKEW_STEPS..=current + SKEW_STEPS).find(|step| {
        let expected = totp.generate((*step as u64) * STEP_SECONDS);
        bool::from(expected.as_bytes().ct_eq(code.as_bytes()))
    })
}

/// A code as typed, without spaces or dashes, lower case.
pub(super) fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The same check as sign-in's: argon2 on the stored hash, off the async runtime.
pub(in crate::ops) async fn password_matches(
    ops: &Ops,
    user: &User,
    password: Zeroizing<String>,
) -> Result<bool, OpError> {
    let stored = db::users::password_hash(&ops.db, &user.id).await?;
    Ok(password::verify(password, stored).await?)
}

/// How a code was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeUsed {
    Totp,
    Recovery,
}

/// Checks a code of `user`'s app (once per time step) or one of their recovery codes (once).
/// `None` when neither matches.
pub(in crate::ops) async fn use_code(
    ops: &Ops,
    user: &User,
    code: &str,
) -> Result<Option<CodeUsed>, OpError> {
    let code = normalise(code);
    if code.is_empty() || code.len() > 64 {
        return Ok(None);
    }
    if code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit()) {
        let Some(factor) = db::two_factor::find(&ops.db, &user.id).await? else {
            return Ok(None);
        };
        if !factor.confirmed {
            return Ok(None);
        }
        let secret = open_secret(ops, user, &factor.sealed).await?;
        let Some(step) = matching_step(&totp(&secret, user)?, &code) else {
            return Ok(None);
        };
        // A code already used (or an older one) is refused: the update matches no row.
        return Ok(db::two_factor::use_step(&ops.db, &user.id, step)
            .await?
            .then_some(CodeUsed::Totp));
    }
    Ok(
        db::two_factor::use_recovery_code(&ops.db, &user.id, &sha256_hex(&code))
            .await?
            .then_some(CodeUsed::Recovery),
    )
}
