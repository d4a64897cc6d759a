//! Offboarding that follows the provider: every account checked there in the background (its
//! refresh token used, one account at a time under a hold), and the provider's back-channel
//! logout. Only the provider's refusal of the grant disables an account.

use std::time::Duration;

use zeroize::Zeroizing;

use super::{
    provider_error,
    provision::{apply_groups, provider_actor, string_claim},
    sso,
};
use crate::{
    crypto::envelope,
    db::{self, users::User},
    domain::{audit::AuditAction, time::now},
    ops::{OpError, Ops, audit::record_instance, departures},
    providers::oidc::Expect,
};

/// Checks each single sign-on account whose last check is older than the recheck time, at the
/// provider: an account whose grant the provider refuses (`invalid_grant`) is disabled here (its
/// sessions end, its API keys and refresh tokens stop at once), and enabled again when it signs
/// in at the provider again. Changes of its groups apply. Any other failure (an unreachable
/// provider, a refused client secret, too many requests, a token failing a check) changes
/// nothing (logged as an error): it would otherwise disable every account at once.
pub async fn check_accounts(ops: &Ops) -> Result<usize, OpError> {
    let Some(sso) = ops.sso.as_deref() else {
        return Ok(0);
    };
    let every = i64::from(sso.settings.recheck_seconds);
    let before = now() - every;
    // Each account is taken just before its check, for longer than the check can take: no
    // other process uses the same refresh token meanwhile.
    let due = db::sso::due(&ops.db, before, 100).await?;
    let mut refused = 0;
    for user_id in due {
        let Some((identity, lease)) = db::sso::take(&ops.db, &user_id, before).await? else {
            continue;
        };
        let Some(sealed) = identity.refresh_token.as_deref() else {
            db::sso::release(&ops.db, &user_id, lease).await?;
            continue;
        };
        let Ok(token) = envelope::open_provider_token(&ops.master, &identity.user_id, sealed)
        else {
            // The other accounts are still checked; this one at its next sign-in.
            tracing::error!(user = %identity.user_id, "a stored refresh token of the provider does not decrypt");
            db::sso::release(&ops.db, &identity.user_id, lease).await?;
            continue;
        };
        let token = Zeroizing::new(String::from_utf8_lossy(&token).into_owned());
        let expect = Expect {
            issuer: sso.client.issuer(),
            client_id: sso.client.client_id(),
            nonce: None,
            subject: Some(&identity.subject),
            authenticated_since: None,
            now: now(),
        };
        let Some(user) = db::users::find(&ops.db, &identity.user_id).await? else {
            db::sso::release(&ops.db, &user_id, lease).await?;
            continue;
        };
        match sso.client.refresh(&token, &expect).await {
            Ok(tokens) => {
                let sealed = tokens
                    .refresh_token
                    .as_ref()
                    .map(|t| envelope::seal_provider_token(&ops.master, &user.id, t.as_bytes()));
                if !db::sso::vouched(&ops.db, &user.id, lease, sealed.as_deref()).await? {
                    tracing::warn!(user = %user.id, "a single sign-on check took longer than its hold on the account: its answer is not used");
                    continue;
                }
                if let Some(claims) = &tokens.claims {
                    apply_groups(ops, sso, &user, claims).await?;
                }
            }
            Err(e) if e.refuses_the_grant() => {
                // Only while this check still holds the account: another process may have
                // used the same refresh token meanwhile, and been answered for it.
                let Some(lease) = db::sso::renew(&ops.db, &user.id, lease).await? else {
                    tracing::warn!(user = %user.id, "a single sign-on check took longer than its hold on the account: its refusal is not used");
                    continue;
                };
                refused += 1;
                suspend(ops, &user, lease, &e.to_string()).await?;
            }
            // Anything else (the client refused, too many requests, a token that fails a check,
            // the provider away) says nothing about this account: it stays as it is.
            Err(e) => {
                tracing::error!(user = %user.id, reason = %e, "could not check a single sign-on account at the provider; tried again later");
                db::sso::release(&ops.db, &user.id, lease).await?;
            }
        }
    }
    Ok(refused)
}

/// Disables `user` because the provider no longer vouches for the account; the check holds the
/// account (`lease`).
async fn suspend(ops: &Ops, user: &User, lease: i64, why: &str) -> Result<(), OpError> {
    // Disabled first: after a crash in between, the next check finds the account refused again
    // and marks it then.
    match db::users::set_disabled(&ops.db, &user.id, true).await {
        Ok(()) => {}
        Err(db::users::AdminChangeError::LastAdmin) => {
            tracing::error!(user = %user.id, "the provider refused the last instance administrator's account: it stays enabled");
            db::sso::release(&ops.db, &user.id, lease).await?;
            return Ok(());
        }
        Err(db::users::AdminChangeError::Database(e)) => return Err(e.into()),
    }
    db::sso::set_suspended(&ops.db, &user.id, true).await?;
    // Their own keys stay at their backends: nobody chose a grace period; an administrator who
    // removes them from a project, or disables them by hand, decides.
    let (flagged, _) = departures::record_everywhere(ops, user, None, &provider_actor()).await?;
    let detail = format!(
        "the single sign-on provider refused the account: {why}; {flagged} keys they saw flagged for rotation"
    );
    crate::ops::audit::record_on_member(
        ops,
        &provider_actor(),
        AuditAction::UserDisable,
        user,
        &detail,
    )
    .await?;
    tracing::info!(user = %user.id, "disabled: the single sign-on provider refused the account");
    Ok(())
}

/// Runs [`check_accounts`] every few seconds, on every process (each account is taken by one
/// process at a time).
pub fn spawn_checks(ops: Ops) {
    let Some(sso) = ops.sso.clone() else {
        return;
    };
    let every = Duration::from_secs(u64::from(sso.settings.recheck_seconds).clamp(1, 30));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = check_accounts(&ops).await {
                tracing::warn!(error = %e, "could not check the single sign-on accounts");
            }
        }
    });
}

/// A back-channel logout from the provider (OpenID Connect Back-Channel Logout 1.0): every
/// session of the user it names ends. The token is checked as an ID token is, with its own rules.
pub async fn back_channel_logout(ops: &Ops, logout_token: &str) -> Result<(), OpError> {
    let sso = sso(ops)?;
    let claims = sso
        .client
        .verify_logout_token(logout_token, now())
        .await
        .map_err(provider_error)?;
    let issuer = sso.client.issuer();
    let identity = match string_claim(&claims, "sub") {
        Some(sub) if !sub.is_empty() => db::sso::find_by_subject(&ops.db, issuer, sub).await?,
        _ => {
            let sid = string_claim(&claims, "sid").unwrap_or_default();
            db::sso::find_by_sid(&ops.db, issuer, sid).await?
        }
    };
    // An account Keyport does not know has no session here: nothing to end.
    let Some(identity) = identity else {
        return Ok(());
    };
    let ended = db::users::end_all_sessions(&ops.db, &identity.user_id).await?;
    if let Some(user) = db::users::find(&ops.db, &identity.user_id).await? {
        record_instance(
            ops,
            &provider_actor(),
            AuditAction::SsoLogout,
            &user.email,
            &format!("{ended} session(s) ended by the provider's back-channel logout"),
        )
        .await?;
    }
    Ok(())
}
