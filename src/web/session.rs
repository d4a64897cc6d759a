//! What the portal keeps in a session, behind named functions: the signed-in user, the CSRF
//! token, a one-time notice, when the user last proved who they are (for step-up), and a
//! sign-in waiting for its second factor.

use tower_sessions::Session;

use super::PageError;
use crate::ops::{User, principal::USER_ID_KEY, random_token, step_up::Freshness};

const EPOCH_KEY: &str = "session_epoch";
const CSRF_KEY: &str = "csrf_token";
const NOTICE_KEY: &str = "notice";
/// When the session was last written, in Unix seconds.
const TOUCHED_KEY: &str = "touched_at";

/// A signed-in session is written (and its expiry pushed back) at most this often: a page view
/// in between reads the session and writes nothing.
const TOUCH_EVERY_SECONDS: i64 = 60;

/// The session's CSRF token: there is one from sign-in on; visitors use a signed token instead
/// (`csrf::VisitorToken`).
pub async fn stored_csrf_token(session: &Session) -> Result<Option<String>, PageError> {
    Ok(session.get::<String>(CSRF_KEY).await?)
}

/// Signs `user` in: a new session id (against fixation), a new CSRF token; the sign-in is the
/// first proof of identity that step-up counts from.
pub async fn sign_in(session: &Session, user: &User) -> Result<(), PageError> {
    session.cycle_id().await?;
    session.insert(USER_ID_KEY, &user.id).await?;
    session.insert(EPOCH_KEY, user.session_epoch).await?;
    session.insert(CSRF_KEY, random_token()).await?;
    session
        .insert(TOUCHED_KEY, crate::domain::time::now())
        .await?;
    record_proof(session).await?;
    Ok(())
}

/// The session's id, as the operations that bind something to it take it (empty before the
/// session is stored).
pub fn id(session: &Session) -> String {
    session.id().map(|id| id.to_string()).unwrap_or_default()
}

/// Ends the session: deleted on the server, the cookie expired.
pub async fn sign_out(session: &Session) -> Result<(), PageError> {
    session.flush().await?;
    Ok(())
}

/// After a password change the user's epoch moved on; this keeps the current session valid.
pub async fn renew_epoch(session: &Session, epoch: i64) -> Result<(), PageError> {
    session.insert(EPOCH_KEY, epoch).await?;
    Ok(())
}

/// The id of the user the session was signed in as, before any check.
pub async fn user_id(session: &Session) -> Result<Option<String>, PageError> {
    Ok(session.get::<String>(USER_ID_KEY).await?)
}

/// `user`, the session's user as just read from the database, if the session may go on as them
/// (they exist, are enabled, and have not had all their sessions ended since this one began);
/// otherwise the session ends. A session that goes on is written at most once a minute.
pub async fn accept(session: &Session, user: Option<User>) -> Result<Option<User>, PageError> {
    let epoch = session.get::<i64>(EPOCH_KEY).await?;
    match user {
        Some(user) if !user.disabled && Some(user.session_epoch) == epoch => {
            let now = crate::domain::time::now();
            let touched = session.get::<i64>(TOUCHED_KEY).await?.unwrap_or(0);
            if now - touched >= TOUCH_EVERY_SECONDS {
                session.insert(TOUCHED_KEY, now).await?;
            }
            Ok(Some(user))
        }
        _ => {
            session.flush().await?;
            Ok(None)
        }
    }
}

pub async fn set_notice(session: &Session, notice: impl Into<String>) -> Result<(), PageError> {
    session.insert(NOTICE_KEY, notice.into()).await?;
    Ok(())
}

/// The notice left for this page, removed from the session; a session without one is not
/// written.
pub async fn take_notice(session: &Session) -> Result<Option<String>, PageError> {
    if session.get::<String>(NOTICE_KEY).await?.is_none() {
        return Ok(None);
    }
    Ok(session.remove::<String>(NOTICE_KEY).await?)
}

/// When the user last proved who they are (sign-in or step-up), in Unix seconds.
const PROVED_AT_KEY: &str = "proved_at";
/// Set by a step-up: the grant of one guarded action that may follow even when the window is
/// zero (`ops::step_up`; only its hash is stored beside it, and one request uses it up).
const STEP_UP_GRANT_KEY: &str = "step_up_grant_id";
/// A sign-in whose password was right and whose second factor is awaited.
const PENDING_SIGN_IN_KEY: &str = "pending_sign_in";

/// Records that the user just proved who they are.
pub async fn record_proof(session: &Session) -> Result<(), PageError> {
    session
        .insert(PROVED_AT_KEY, crate::domain::time::now())
        .await?;
    Ok(())
}

/// When the user last proved who they are, if ever in this session.
pub async fn last_proof(session: &Session) -> Result<Option<i64>, PageError> {
    Ok(session.get::<i64>(PROVED_AT_KEY).await?)
}

/// Records a step-up: a new proof, and `grant`, the one guarded action allowed right after it.
pub async fn record_step_up(session: &Session, grant: String) -> Result<(), PageError> {
    record_proof(session).await?;
    session.insert(STEP_UP_GRANT_KEY, grant).await?;
    Ok(())
}

/// How recently the session proved that `user` is who they are, for the operations that ask.
pub async fn freshness(session: &Session, user: &User) -> Result<Freshness, PageError> {
    Ok(Freshness::Session {
        user_id: user.id.clone(),
        proved_at: last_proof(session).await?,
        grant: session.get::<String>(STEP_UP_GRANT_KEY).await?,
    })
}

/// A sign-in waiting for its second factor.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct PendingSignIn {
    pub user_id: String,
    /// The user's session epoch when the password was checked.
    pub epoch: i64,
    /// When the password was checked, in Unix seconds.
    pub since: i64,
    /// Wrong codes typed so far.
    pub failures: u32,
}

/// Remembers that `user`'s password was right; the code comes next.
pub async fn set_pending_sign_in(session: &Session, user: &User) -> Result<(), PageError> {
    let pending = PendingSignIn {
        user_id: user.id.clone(),
        epoch: user.session_epoch,
        since: crate::domain::time::now(),
        failures: 0,
    };
    session.insert(PENDING_SIGN_IN_KEY, pending).await?;
    Ok(())
}

pub async fn pending_sign_in(session: &Session) -> Result<Option<PendingSignIn>, PageError> {
    Ok(session.get::<PendingSignIn>(PENDING_SIGN_IN_KEY).await?)
}

pub async fn update_pending_sign_in(
    session: &Session,
    pending: &PendingSignIn,
) -> Result<(), PageError> {
    session.insert(PENDING_SIGN_IN_KEY, pending).await?;
    Ok(())
}

pub async fn clear_pending_sign_in(session: &Session) -> Result<(), PageError> {
    session.remove::<PendingSignIn>(PENDING_SIGN_IN_KEY).await?;
    Ok(())
}

/// A sign-in (or step-up) under way at the single sign-on provider, and the page a step-up goes
/// back to.
const SSO_PENDING_KEY: &str = "sso_pending";
const SSO_NEXT_KEY: &str = "sso_next";

pub async fn set_sso_pending(
    session: &Session,
    pending: &crate::ops::sso::Pending,
    next: Option<&str>,
) -> Result<(), PageError> {
    session.insert(SSO_PENDING_KEY, pending).await?;
    match next {
        Some(next) => session.insert(SSO_NEXT_KEY, next).await?,
        None => drop(session.remove::<String>(SSO_NEXT_KEY).await?),
    }
    Ok(())
}

/// The sign-in under way, removed from the session: the provider's answer is used once.
pub async fn take_sso_pending(
    session: &Session,
) -> Result<(Option<crate::ops::sso::Pending>, Option<String>), PageError> {
    let pending = session
        .remove::<crate::ops::sso::Pending>(SSO_PENDING_KEY)
        .await?;
    let next = session.remove::<String>(SSO_NEXT_KEY).await?;
    Ok((pending, next))
}
