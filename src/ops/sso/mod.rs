//! Single sign-on with the team's OpenID provider: the sign-in (an account created, or linked by
//! a verified email), the provider's groups turned into the instance administrator right and
//! project roles, step-up at the provider, and offboarding that follows the provider: each
//! account is checked there every `KEYPORT_OIDC_RECHECK_SECONDS` (its refresh token used), and a
//! back-channel logout ends the user's sessions (`checks`). Every change is audited. Here the
//! round trip to the provider; what its answer makes of a Keyport account, in `provision`.

mod checks;
mod provision;

pub use checks::{back_channel_logout, check_accounts, spawn_checks};
use provision::{account, apply_groups, store_tokens};

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{OpError, Ops, audit::record_instance};
use crate::{
    config::{Config, SsoSettings},
    crypto::random_token,
    db::{self, audit::Actor, users::User},
    domain::{audit::AuditAction, time::now},
    files::read_secret,
    providers::{
        Http, OutgoingPolicy,
        oidc::{Authorize, Expect, OidcClient, OidcError, OidcSettings, shown},
    },
};

/// How long a sign-in may take at the provider.
const PENDING_SECONDS: i64 = 600;

/// Single sign-on as the instance configured it.
pub struct Sso {
    client: OidcClient,
    settings: SsoSettings,
}

impl Sso {
    /// Single sign-on from the configuration, `None` when no issuer is set. The client secret is
    /// read from its file now: a portal that cannot read it does not start.
    pub fn from_config(config: &Config, public_url: &str) -> anyhow::Result<Option<Arc<Sso>>> {
        let settings = &config.sso;
        let Some(issuer) = settings.issuer.clone() else {
            return Ok(None);
        };
        let client_id = settings
            .client_id
            .clone()
            .context("KEYPORT_OIDC_ISSUER is set: set KEYPORT_OIDC_CLIENT_ID too")?;
        let secret_file = settings
            .client_secret_file
            .as_deref()
            .context("KEYPORT_OIDC_ISSUER is set: set KEYPORT_OIDC_CLIENT_SECRET_FILE too")?;
        let client_secret = read_secret("KEYPORT_OIDC_CLIENT_SECRET_FILE", secret_file)?;
        let mut scopes: Vec<&str> = settings.scopes.split_whitespace().collect();
        if !scopes.contains(&"openid") {
            scopes.insert(0, "openid");
        }
        let oidc = OidcSettings {
            issuer,
            client_id,
            client_secret,
            scopes: scopes.join(" "),
            redirect_uri: format!("{public_url}/login/sso/callback"),
            key_refetch: Duration::from_secs(settings.key_refetch_seconds),
        };
        // The provider is reached as the backends are, under the same policy.
        let http = Http::new(OutgoingPolicy::new(
            config.limits.backend_allowed_networks.clone(),
        ));
        Ok(Some(Arc::new(Sso {
            client: OidcClient::new(oidc, http),
            settings: settings.clone(),
        })))
    }

    /// The provider's name on the sign-in button.
    pub fn name(&self) -> &str {
        &self.settings.name
    }
}

/// A sign-in under way at the provider, kept in the visitor's session (server-side) until the
/// provider sends them back.
#[derive(Serialize, Deserialize)]
pub struct Pending {
    state: String,
    nonce: String,
    code_verifier: String,
    since: i64,
    /// A step-up of this signed-in user, rather than a sign-in.
    step_up_user: Option<String>,
}

impl Pending {
    pub fn step_up_user(&self) -> Option<&str> {
        self.step_up_user.as_deref()
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending([redacted])")
    }
}

/// What the provider sent the browser back with.
#[derive(Default, Deserialize)]
pub struct Answer {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

fn sso(ops: &Ops) -> Result<&Sso, OpError> {
    ops.sso
        .as_deref()
        .ok_or_else(|| OpError::Refused("Single sign-on is not set up on this Keyport.".into()))
}

fn provider_error(e: OidcError) -> OpError {
    match e {
        OidcError::Unreachable(message) => OpError::Refused(format!(
            "The single sign-on provider could not be reached: {message} Try again in a moment."
        )),
        OidcError::Refused { message, .. } | OidcError::Invalid(message) => {
            OpError::Refused(message)
        }
    }
}

/// Starts a sign-in (or, with `step_up` a signed-in user, a step-up: the provider must ask
/// them again): the provider's URL to send the browser to, and what the session keeps.
pub async fn begin(ops: &Ops, step_up: Option<&User>) -> Result<(String, Pending), OpError> {
    let sso = sso(ops)?;
    let pending = Pending {
        state: random_token(),
        nonce: random_token(),
        code_verifier: random_token(),
        since: now(),
        step_up_user: step_up.map(|u| u.id.clone()),
    };
    let request = Authorize {
        state: &pending.state,
        nonce: &pending.nonce,
        code_verifier: &pending.code_verifier,
        max_age: step_up.map(|_| 0),
        login_hint: None,
    };
    let url = sso
        .client
        .authorization_url(&request)
        .await
        .map_err(provider_error)?;
    Ok((url, pending))
}

/// What a finished round trip to the provider did.
pub enum Finished {
    /// Signed in: the account (created or linked on its first sign-in), its groups applied.
    SignedIn(User),
    /// The signed-in user signed in again at the provider: the grant of the one guarded action
    /// that may follow (as `step_up::step_up` gives).
    SteppedUp { user: User, grant: String },
}

/// A sign-in (or step-up) at the provider, finished. Each refusal is audited and says why.
pub async fn finish(
    ops: &Ops,
    pending: Option<Pending>,
    answer: Answer,
    actor: &Actor,
) -> Result<Finished, OpError> {
    match finish_checked(ops, pending, answer, actor).await {
        Ok(user) => Ok(user),
        Err(OpError::Refused(why)) => {
            record_instance(
                ops,
                actor,
                AuditAction::SignInFailed,
                "",
                &format!("single sign-on: {why}"),
            )
            .await?;
            Err(OpError::Refused(why))
        }
        Err(e) => Err(e),
    }
}

/// The sign-in's checks, in order: the session's sign-in (state), the issuer of the answer
/// (RFC 9207: required when the provider says it always sends it), the provider's own error,
/// then the code exchanged and the ID token checked.
async fn finish_checked(
    ops: &Ops,
    pending: Option<Pending>,
    answer: Answer,
    actor: &Actor,
) -> Result<Finished, OpError> {
    let sso = sso(ops)?;
    let Some(pending) = pending.filter(|p| now() - p.since < PENDING_SECONDS) else {
        return Err(OpError::Refused(
            "This sign-in was not started in this browser, or took too long. Start again.".into(),
        ));
    };
    let state = answer.state.unwrap_or_default();
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        state.as_bytes(),
        pending.state.as_bytes(),
    )) {
        return Err(OpError::Refused(
            "The provider's answer does not belong to this sign-in (state). Start again.".into(),
        ));
    }
    // RFC 9207: who sent the answer is checked first, its error included (an error answer
    // from another provider is not this provider's word).
    match answer.iss.as_deref() {
        Some(iss) if iss != sso.client.issuer() => {
            return Err(OpError::Refused(
                "The answer comes from another provider than the configured one (iss).".into(),
            ));
        }
        None if sso.client.sends_iss().await.map_err(provider_error)? => {
            return Err(OpError::Refused(
                "The answer does not name the provider that sent it, which this provider always does (iss). Start again.".into(),
            ));
        }
        _ => {}
    }
    if let Some(error) = answer.error {
        let description = answer
            .error_description
            .map(|d| format!(": {}", shown(&d)))
            .unwrap_or_default();
        return Err(OpError::Refused(format!(
            "The provider did not sign you in ({}{description}).",
            shown(&error)
        )));
    }
    let code = answer.code.unwrap_or_default();
    if code.is_empty() {
        return Err(OpError::Refused(
            "The provider sent no authorization code.".into(),
        ));
    }
    let step_up_user = match &pending.step_up_user {
        Some(id) => Some(db::sso::find(&ops.db, id).await?.ok_or_else(|| {
            OpError::Refused("Your account does not sign in with single sign-on.".into())
        })?),
        None => None,
    };
    let expect = Expect {
        issuer: sso.client.issuer(),
        client_id: sso.client.client_id(),
        nonce: Some(&pending.nonce),
        subject: step_up_user.as_ref().map(|i| i.subject.as_str()),
        authenticated_since: step_up_user.as_ref().map(|_| pending.since),
        now: now(),
    };
    let tokens = sso
        .client
        .exchange(&code, &pending.code_verifier, &expect)
        .await
        .map_err(provider_error)?;
    let claims = tokens
        .claims
        .as_ref()
        .expect("a sign-in's answer has an ID token");
    if let Some(identity) = step_up_user {
        let user = db::users::find(&ops.db, &identity.user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(OpError::NotFound)?;
        let grant = super::step_up::issue_grant(ops, &user.id).await?;
        return Ok(Finished::SteppedUp { user, grant });
    }
    let user = account(ops, sso, claims, actor).await?;
    store_tokens(ops, sso, &user, claims, &tokens).await?;
    let user = apply_groups(ops, sso, &user, claims).await?;
    tracing::info!(user = %user.id, "signed in with single sign-on");
    Ok(Finished::SignedIn(user))
}

/// Whether `user` signs in through the provider (and steps up there).
pub async fn signs_in_with_sso(ops: &Ops, user: &User) -> Result<bool, OpError> {
    Ok(ops.sso.is_some() && db::sso::find(&ops.db, &user.id).await?.is_some())
}

/// Whether `user` may sign in with a password: always, unless single sign-on is on and
/// password sign-in is kept for instance administrators (the way in when the provider is down).
pub fn password_allowed(ops: &Ops, user: &User) -> bool {
    match ops.sso.as_deref() {
        Some(sso) if sso.settings.password_sign_in == "admins" => user.is_admin,
        _ => true,
    }
}
