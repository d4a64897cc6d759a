//! Enrolment: a new secret (shown as text and as a QR code), confirmed by the first code, which
//! gives the ten recovery codes; and turning two-factor sign-in off after the password.

use base64::{Engine, engine::general_purpose::STANDARD};
use zeroize::Zeroizing;

use super::{
    Enrolment, RECOVERY_ALPHABET, RECOVERY_CODES, RecoveryCodes,
    codes::{matching_step, normalise, open_secret, password_matches, totp},
    policy,
};
use crate::{
    crypto::{random_bytes, random_string, sha256_hex},
    db::{self, audit::Actor, keys::UnderMaster, users::User},
    domain::audit::AuditAction,
    ops::step_up::Freshness,
    ops::{OpError, Ops, audit::record_instance},
};

/// Starts (or restarts) an enrolment with a new secret, for the session `session` (its id) alone;
/// refused when already enrolled.
pub async fn start(
    ops: &Ops,
    user: &User,
    freshness: &Freshness,
    session: &str,
) -> Result<(), OpError> {
    ops.require_fresh(freshness).await?;
    // 160 bits, as RFC 4226 recommends.
    let secret = Zeroizing::new(random_bytes::<20>());
    let sealed = ops.seal_under_master(
        UnderMaster::TotpSecret { user_id: &user.id },
        secret.as_slice(),
    );
    let session = db::session_key(session);
    if !db::two_factor::start(&ops.db, &user.id, &sealed, &session).await? {
        return Err(OpError::Refused(
            "Two-factor sign-in is already on; turn it off first to enrol a new device.".into(),
        ));
    }
    Ok(())
}

/// The enrolment waiting for its first code that session `session` started, if any: another
/// session of the user is not shown its secret.
pub async fn pending(ops: &Ops, user: &User, session: &str) -> Result<Option<Enrolment>, OpError> {
    let Some(factor) = db::two_factor::find(&ops.db, &user.id).await? else {
        return Ok(None);
    };
    if factor.confirmed || factor.pending_session != db::session_key(session) {
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

/// Confirms an enrolment with the first code from the app; returns the recovery codes, shown
/// once (only their hashes are stored).
pub async fn confirm(
    ops: &Ops,
    user: &User,
    actor: &Actor,
    code: &str,
    session: &str,
) -> Result<RecoveryCodes, OpError> {
    let session = db::session_key(session);
    let no_enrolment = || OpError::Refused("There is no enrolment to confirm: start again.".into());
    let Some(factor) = db::two_factor::find(&ops.db, &user.id).await? else {
        return Err(no_enrolment());
    };
    if factor.confirmed {
        return Err(OpError::Refused("Two-factor sign-in is already on.".into()));
    }
    if factor.pending_session != session {
        return Err(no_enrolment());
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
    if !db::two_factor::confirm(&ops.db, &user.id, step, &hashes, &session).await? {
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
