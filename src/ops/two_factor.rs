//! Two-factor sign-in with TOTP (RFC 6238): enrolment with a QR code, ten one-time recovery
//! codes, the second step of sign-in, who must enrol (the policy; changed in `ops::admin`), and
//! the proof of identity asked again before secrets (step-up). The secret is sealed under the
//! master key, bound to the user's id; a code is accepted once (the last time step used is kept).

use base64::{Engine, engine::general_purpose::STANDARD};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};
use zeroize::Zeroizing;

use super::{FieldErrors, OpError, Ops, accounts, audit::record_instance};
use crate::{
    crypto::{password, random_bytes, random_string, sha256_hex},
    db::{self, audit::Actor, keys::UnderMaster, settings, users::User},
    domain::{audit::AuditAction, two_factor::TwoFactorPolicy},
};

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

fn totp(secret: &[u8], user: &User) -> Result<TOTP, OpError> {
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

/// Starts (or restarts) an enrolment with a new secret; refused when already enrolled.
pub async fn start(ops: &Ops, user: &User) -> Result<(), OpError> {
    // 160 bits, as RFC 4226 recommends.
    let secret = Zeroizing::new(random_bytes::<20>());
    let sealed = ops.seal_under_master(
        UnderMaster::TotpSecret { user_id: &user.id },
        secret.as_slice(),
    );
    if !db::two_factor::start(&ops.db, &user.id, &sealed).await? {
        return Err(OpError::Refused(
            "Two-factor sign-in is already on; turn it off first to enrol a new device.".into(),
        ));
    }
    Ok(())
}

async fn open_secret(ops: &Ops, user: &User, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpError> {
    ops.open_under_master(UnderMaster::TotpSecret { user_id: &user.id }, sealed)
        .map_err(|_| {
            OpError::Internal(anyhow::anyhow!(
                "the two-factor secret of user {} does not open with the master key",
                user.id
            ))
        })
}

/// The enrolment waiting for its first code, if any.
pub async fn pending(ops: &Ops, user: &User) -> Result<Option<Enrolment>, OpError> {
    let Some(factor) = db::two_factor::find(&ops.db, &user.id).await? else {
        return Ok(None);
    };
    if factor.confirmed {
        return Ok(None);
    }
    let secret = open_secret(ops, user, &factor.sealed).await?;
    let totp = totp(&secret, user)?;
    let uri = Zeroizing::new(totp.get_url());
    let qr = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| OpError::Internal(anyhow::anyhow!("QR code: {e}")))?;
    let svg = qr
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .build();
    Ok(Some(Enrolment {
        secret_base32: Zeroizing::new(totp.get_secret_base32()),
        qr_data_url: format!("data:image/svg+xml;base64,{}", STANDARD.encode(svg)),
    }))
}

/// The time step whose code `code` is, within the skew, or `None`. Compared in constant time.
fn matching_step(totp: &TOTP, code: &str) -> Option<i64> {
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
fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Confirms an enrolment with the first code from the app; returns the recovery codes, shown
/// once (only their hashes are stored).
pub async fn confirm(
    ops: &Ops,
    user: &User,
    actor: &Actor,
    code: &str,
) -> Result<RecoveryCodes, OpError> {
    let Some(factor) = db::two_factor::find(&ops.db, &user.id).await? else {
        return Err(OpError::Refused(
            "There is no enrolment to confirm: start again.".into(),
        ));
    };
    if factor.confirmed {
        return Err(OpError::Refused("Two-factor sign-in is already on.".into()));
    }
    let secret = open_secret(ops, user, &factor.sealed).await?;
    let Some(step) = matching_step(&totp(&secret, user)?, &normalise(code)) else {
        return Err(OpError::field(
            "code",
            "This code is not right: type the 6 digits your app shows now.",
        ));
    };
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let raw = random_string(10, RECOVERY_ALPHABET);
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect();
    let hashes: Vec<String> = codes.iter().map(|c| sha256_hex(&normalise(c))).collect();
    if !db::two_factor::confirm(&ops.db, &user.id, step, &hashes).await? {
        return Err(OpError::Refused("Two-factor sign-in is already on.".into()));
    }
    record_instance(ops, actor, AuditAction::TwoFactorEnable, &user.email, "").await?;
    tracing::info!(user = %user.id, "two-factor sign-in turned on");
    Ok(RecoveryCodes(codes))
}

/// Turns two-factor sign-in off, after the password.
pub async fn disable(
    ops: &Ops,
    user: &User,
    actor: &Actor,
    password: Zeroizing<String>,
) -> Result<(), OpError> {
    if policy(ops).await?.requires(user.is_admin) {
        return Err(OpError::Refused(
            "This Keyport requires two-factor sign-in of you: it cannot be turned off.".into(),
        ));
    }
    if !password_matches(ops, user, password).await? {
        return Err(OpError::field(
            "password",
            "This is not your current password.",
        ));
    }
    if db::two_factor::remove(&ops.db, &user.id).await? {
        record_instance(ops, actor, AuditAction::TwoFactorDisable, &user.email, "").await?;
        tracing::info!(user = %user.id, "two-factor sign-in turned off");
    }
    Ok(())
}

/// The same check as sign-in's: argon2 on the stored hash, off the async runtime.
async fn password_matches(
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
async fn use_code(ops: &Ops, user: &User, code: &str) -> Result<Option<CodeUsed>, OpError> {
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
