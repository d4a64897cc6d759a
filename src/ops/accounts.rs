//! Accounts: the first instance admin, signing in, the one-time set-password links, and changing
//! one's own password. Here are the rules, the password hashing and the writes; the session
//! itself (its id, what it holds, its cookie) is the caller's.

use zeroize::Zeroizing;

use super::{FieldErrors, OpError, Ops};
use crate::{
    crypto::{password, sha256_hex},
    db::{self, settings, users::User},
    domain::validate,
};

/// A new password, typed twice.
pub struct NewPassword {
    pub password: Zeroizing<String>,
    pub confirm: Zeroizing<String>,
}

impl NewPassword {
    /// Records under `field` why the password will not do.
    pub(super) fn check(&self, errors: &mut FieldErrors, field: &'static str) {
        if let Err(message) = validate::new_password(&self.password, &self.confirm) {
            errors.add(field, message);
        }
    }

    /// The hash to store; the password itself is kept nowhere.
    pub(super) async fn hash(self) -> Result<String, OpError> {
        Ok(password::hash(self.password).await?)
    }
}

/// Refuses (as [`OpError::NotFound`]) once the first admin exists: setup happens once.
pub async fn setup_open(ops: &Ops) -> Result<(), OpError> {
    match settings::get(ops.db.pool(), settings::SETUP_DONE).await? {
        Some(_) => Err(OpError::NotFound),
        None => Ok(()),
    }
}

/// The user with `email` (as typed: trimmed and case-folded here), if there is one.
pub async fn find_by_email(ops: &Ops, email: &str) -> Result<Option<User>, OpError> {
    Ok(db::users::find_by_email(&ops.db, &email.trim().to_lowercase()).await?)
}

/// What the setup form asks for.
pub struct FirstAdmin<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password: NewPassword,
}

/// Creates the first instance admin, with their password, and closes setup for good.
pub async fn set_up(ops: &Ops, first: FirstAdmin<'_>) -> Result<User, OpError> {
    setup_open(ops).await?;
    let mut errors = FieldErrors::default();
    let email = errors.check("email", validate::email(first.email));
    let name = errors.check("name", validate::person_name(first.name));
    first.password.check(&mut errors, "password");
    errors.into_result()?;
    let hash = first.password.hash().await?;
    // The setup marker and the admin are written together; a second, concurrent setup fails on
    // the marker's unique key and writes nothing.
    let mut tx = ops.db.pool().begin().await?;
    settings::insert(&mut *tx, settings::SETUP_DONE, &db::now().to_string())
        .await
        .map_err(|e| db::unique_as(e, OpError::NotFound))?;
    let row = db::users::NewUser {
        email: &email,
        name: &name,
        password_hash: Some(&hash),
        is_admin: true,
    };
    let user = db::users::create(&mut *tx, row).await?;
    tx.commit().await?;
    tracing::info!(user = %user.id, "first instance admin created");
    Ok(user)
}

/// What the sign-in form asks for.
pub struct SignIn<'a> {
    pub email: &'a str,
    pub password: Zeroizing<String>,
}

/// The one answer to every refused sign-in, whatever was wrong.
const SIGN_IN_REFUSED: &str = "The email or the password is wrong.";

/// The user whose email and password these are. A wrong password, an unknown email and a
/// disabled account are refused alike ([`OpError::Refused`]), after the same argon2 work: a
/// password without a stored hash is checked against a dummy one.
pub async fn sign_in(ops: &Ops, attempt: SignIn<'_>) -> Result<User, OpError> {
    let email = attempt.email.trim().to_lowercase();
    let found = if email.is_empty() || email.len() > 254 {
        None
    } else {
        db::users::find_for_login(&ops.db, &email).await?
    };
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let password_ok = password::verify(attempt.password, hash).await?;
    match user {
        Some(user) if password_ok && !user.disabled => {
            tracing::info!(user = %user.id, "signed in");
            Ok(user)
        }
        _ => {
            tracing::info!("sign-in refused");
            Err(OpError::Refused(SIGN_IN_REFUSED.into()))
        }
    }
}

const LINK_GONE: &str = "This link is not valid: it was already used, has expired, or was replaced by a newer one. Ask an administrator for a new link.";

/// The user a set-password link is for, while the link works: not used, not expired, not
/// replaced, and its user enabled. Refused ([`OpError::Forbidden`]) otherwise.
pub async fn open_password_link(ops: &Ops, token: &str) -> Result<User, OpError> {
    db::users::find_by_password_link(&ops.db, &sha256_hex(token))
        .await?
        .ok_or(OpError::Forbidden(LINK_GONE))
}

/// Sets the password of a link's user and uses the link up; all the user's sessions end.
/// Returns the user.
pub async fn set_password_from_link(
    ops: &Ops,
    token: &str,
    new: NewPassword,
) -> Result<User, OpError> {
    let user = open_password_link(ops, token).await?;
    let mut errors = FieldErrors::default();
    new.check(&mut errors, "password");
    errors.into_result()?;
    let hash = new.hash().await?;
    // Used or disabled since it was opened: nothing is set.
    if !db::users::use_password_link(&ops.db, &sha256_hex(token), &hash).await? {
        return Err(OpError::Forbidden(LINK_GONE));
    }
    tracing::info!(user = %user.id, "password set from a link");
    Ok(user)
}

/// What the change-password form asks for.
pub struct PasswordChange {
    /// The password now, to confirm it is the user who asks.
    pub current: Zeroizing<String>,
    pub new: NewPassword,
}

/// Changes `user`'s own password and ends all their sessions but `keep_session` (the id of the
/// caller's own). Returns the user's new session epoch, which the kept session carries on.
pub async fn change_password(
    ops: &Ops,
    user: &User,
    change: PasswordChange,
    keep_session: Option<&str>,
) -> Result<i64, OpError> {
    let mut errors = FieldErrors::default();
    let stored = db::users::password_hash(&ops.db, &user.id).await?;
    if !password::verify(change.current, stored).await? {
        errors.add("current_password", "This is not your current password.");
    }
    change.new.check(&mut errors, "new_password");
    errors.into_result()?;
    let hash = change.new.hash().await?;
    db::users::set_password(&ops.db, &user.id, &hash, keep_session).await?;
    tracing::info!(user = %user.id, "password changed; other sessions ended");
    Ok(user.session_epoch + 1)
}

/// Records a refused sign-in with `email` (typed as on the form), for the notice its user sees
/// at their next sign-in. The same work whether or not a user has that email.
pub async fn note_failed_sign_in(ops: &Ops, email: &str) -> Result<(), OpError> {
    let email = email.trim().to_lowercase();
    if !email.is_empty() && email.len() <= 254 {
        db::users::count_failed_sign_in(&ops.db, &email).await?;
    }
    Ok(())
}

/// What to tell `user`, who just signed in, about refused sign-ins with their email since their
/// last visit; `None` when there were none.
pub async fn failed_sign_ins_notice(ops: &Ops, user: &User) -> Result<Option<String>, OpError> {
    let count = db::users::take_failed_sign_ins(&ops.db, &user.id).await?;
    Ok(match count {
        0 => None,
        1 => Some(
            "1 failed sign-in with your email since your last visit. If it was not you, change your password.".into(),
        ),
        n => Some(format!(
            "{n} failed sign-ins with your email since your last visit. If they were not you, change your password."
        )),
    })
}
