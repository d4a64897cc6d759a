//! Two-factor sign-in with TOTP (RFC 6238): who must enrol (the policy; changed in
//! `ops::admin`) and each user's status here; enrolment with a QR code and ten one-time recovery
//! codes in `enrolment`; the codes themselves (checked once per time step) in `codes`. The
//! secret is sealed under the master key, bound to the user's id. The sign-in's steps are in
//! `ops::sign_in`, the proof asked again before secrets in `ops::step_up`.

mod codes;
mod enrolment;

use zeroize::Zeroizing;

use super::{OpError, Ops};
use crate::{
    db::{self, settings, users::User},
    domain::two_factor::TwoFactorPolicy,
};

pub(super) use codes::{CodeUsed, password_matches, use_code};
pub use enrolment::{confirm, disable, pending, start};

/// Seconds per time step, digits per code: what every authenticator app assumes.
const STEP_SECONDS: u64 = 30;
const DIGITS: usize = 6;
/// A code of the step before or after the current one is accepted too (clock drift).
const SKEW_STEPS: i64 = 1;
const ISSUER: &str = "Keyport";
pub const RECOVERY_CODES: usize = 10;
/// Recovery codes avoid characters that are easily confused (0/o, 1/l/i).
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// What the enrolment page shows: the secret as text and as a QR code of its otpauth:// URI.
pub struct Enrolment {
    pub secret_base32: Zeroizing<String>,
    /// `data:image/svg+xml;base64,...`, for an `<img>`.
    pub qr_data_url: String,
}

/// Whether the user has two-factor sign-in, and how many recovery codes remain.
pub struct Status {
    pub enrolled: bool,
    pub pending: bool,
    pub recovery_codes_left: i64,
    /// Whether the instance's policy requires it of this user.
    pub required: bool,
}

/// The ten recovery codes of a new enrolment, shown once.
pub struct RecoveryCodes(pub Vec<String>);

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCodes([redacted])")
    }
}

pub async fn policy(ops: &Ops) -> Result<TwoFactorPolicy, OpError> {
    let stored = settings::get(ops.db.pool(), settings::TWO_FACTOR_REQUIRED).await?;
    Ok(stored
        .as_deref()
        .and_then(TwoFactorPolicy::parse)
        .unwrap_or_default())
}

pub async fn status(ops: &Ops, user: &User) -> Result<Status, OpError> {
    let factor = db::two_factor::find(&ops.db, &user.id).await?;
    let enrolled = factor.as_ref().is_some_and(|f| f.confirmed);
    Ok(Status {
        enrolled,
        pending: factor.is_some_and(|f| !f.confirmed),
        recovery_codes_left: if enrolled {
            db::two_factor::recovery_codes_left(&ops.db, &user.id).await?
        } else {
            0
        },
        required: policy(ops).await?.requires(user.is_admin),
    })
}

/// Whether `user` must enrol before going on, by the instance's policy.
pub async fn must_enrol(ops: &Ops, user: &User) -> Result<bool, OpError> {
    Ok(policy(ops).await?.requires(user.is_admin)
        && !db::two_factor::enrolled(&ops.db, &user.id).await?)
}
