//! Instance administration: users, their one-time set-password links, disabling and the admin
//! right. Not project-scoped, so each operation takes the signed-in user and checks the right.
//! Also the instance's settings (who must sign in with a second factor). Each change is written
//! to the instance audit log; a set-password link and disabling also to the log of every project
//! the user is a member of.

use std::fmt;

use super::{
    FieldErrors, OpError, Ops,
    accounts::NewPassword,
    audit::{record_instance, record_on_member},
    principal::require_instance,
    step_up::Freshness,
    two_factor,
};
use crate::{
    crypto::{random_token, sha256_hex},
    db::{
        self,
        audit::Actor,
        settings,
        users::{AdminChangeError, User},
    },
    domain::{audit::AuditAction, roles::InstanceAction, two_factor::TwoFactorPolicy, validate},
};

/// How long a set-password link works.
pub const LINK_HOURS: i64 = 72;

/// The user `user_id`, for a confirmation of a change to them.
pub async fn user(ops: &Ops, admin: &User, user_id: &str) -> Result<User, OpError> {
    require_instance(admin, InstanceAction::ManageUsers)?;
    target(ops, user_id).await
}

pub async fn users(ops: &Ops, admin: &User) -> Result<Vec<User>, OpError> {
    require_instance(admin, InstanceAction::ManageUsers)?;
    Ok(db::users::list(&ops.db).await?)
}

/// A one-time set-password link, shown once: only its hash is kept.
pub struct PasswordLink {
    pub user: User,
    /// The secret part of the link.
    pub token: String,
}

impl fmt::Debug for PasswordLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordLink")
            .field("user", &self.user.id)
            .field("token", &"[redacted]")
            .finish()
    }
}

/// What the create-user form asks for.
pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub is_admin: bool,
}

/// Creates a user without a password, and their link to choose one.
pub async fn create_user(
    ops: &Ops,
    admin: &User,
    actor: &Actor,
    new: NewUser<'_>,
) -> Result<PasswordLink, OpError> {
    require_instance(admin, InstanceAction::ManageUsers)?;
    let (user, token) = create(ops, actor, new, None).await?;
    let token = token.expect("a user without a password gets a link");
    Ok(PasswordLink { user, token })
}

/// `keyport user create`: a user with the password typed on the command line, whoever runs it
/// (they hold the database and the master key). An instance admin made so closes the web setup.
pub async fn create_user_from_command_line(
    ops: &Ops,
    new: NewUser<'_>,
    password: NewPassword,
) -> Result<User, OpError> {
    let actor = Actor {
        label: "command line".into(),
        ..Actor::default()
    };
    let (user, _) = create(ops, &actor, new, Some(password)).await?;
    Ok(user)
}

/// The one way a user is made by someone else: checked, written with their password or with a
/// link to choose one (together, or neither), audited in `actor`'s name.
async fn create(
    ops: &Ops,
    actor: &Actor,
    new: NewUser<'_>,
    password: Option<NewPassword>,
) -> Result<(User, Option<String>), OpError> {
    let mut errors = FieldErrors::default();
    let email = errors.check("email", validate::email(new.email));
    let name = errors.check("name", validate::person_name(new.name));
    if let Some(password) = &password {
        password.check(&mut errors, "password");
    }
    errors.into_result()?;
    let hash = match password {
        Some(password) => Some(password.hash().await?),
        None => None,
    };
    let row = db::users::NewUser {
        email: &email,
        name: &name,
        password_hash: hash.as_deref(),
        is_admin: new.is_admin,
    };
    let mut tx = ops.db.pool().begin().await?;
    let user = db::users::create(&mut *tx, row).await?;
    let token = match hash {
        Some(_) => None,
        None => Some(new_password_link(&mut tx, &user).await?),
    };
    // An instance admin with a password exists now: the web setup is closed.
    if user.is_admin && token.is_none() {
        db::settings::insert_if_absent(&mut *tx, db::settings::SETUP_DONE, &db::now().to_string())
            .await?;
    }
    tx.commit().await?;
    let detail = if user.is_admin {
        "instance administrator"
    } else {
        ""
    };
    record_instance(ops, actor, AuditAction::UserCreate, &user.email, detail).await?;
    tracing::info!(by = %actor.label, user = %user.id, "user created");
    Ok((user, token))
}

/// A new link for the user `user_id`, replacing an older one; refused for a disabled user.
pub async fn password_link(
    ops: &Ops,
    admin: &User,
    actor: &Actor,
    user_id: &str,
) -> Result<PasswordLink, OpError> {
    require_instance(admin, InstanceAction::ManageUsers)?;
    let user = target(ops, user_id).await?;
    if user.disabled {
        return Err(OpError::Refused(format!(
            "{} is disabled: enable the account first.",
            user.email
        )));
    }
    let mut conn = ops.db.pool().acquire().await?;
    let token = new_password_link(&mut conn, &user).await?;
    drop(conn);
    // Whoever holds the link can sign in as the user: the user's projects see that it was made.
    let detail = format!("set-password link valid for {LINK_HOURS} hours");
    record_on_member(ops, actor, AuditAction::UserPasswordLink, &user, &detail).await?;
    tracing::info!(by = %admin.id, user = %user.id, "set-password link created");
    Ok(PasswordLink { user, token })
}

/// Creates a link (replacing an older one) and returns its token; only the hash is stored.
async fn new_password_link(conn: &mut sqlx::AnyConnection, user: &User) -> Result<String, OpError> {
    let token = random_token();
    let expires_at = db::now() + LINK_HOURS * 3600;
    db::users::create_password_link(conn, &user.id, &sha256_hex(&token), expires_at).await?;
    Ok(token)
}

/// A change to a user's account.
#[derive(Clone, Copy, Debug)]
pub enum UserChange {
    /// Disabled; their own keys revoked at their backends at `revoke_at` (`None`: left).
    Disable {
        revoke_at: Option<i64>,
    },
    Enable,
    MakeAdmin,
    RevokeAdmin,
}

/// Applies `change` to the user `user_id` and returns the account as it was before. Admins do
/// not disable or demote themselves, and an enabled instance admin always remains.
pub async fn change_user(
    ops: &Ops,
    admin: &User,
    freshness: &Freshness,
    actor: &Actor,
    user_id: &str,
    change: UserChange,
) -> Result<User, OpError> {
    require_instance(admin, InstanceAction::ManageUsers)?;
    if let UserChange::Disable { revoke_at: Some(_) } = change {
        // Revoking their keys deletes them at their backends: a fresh proof, as a member's
        // removal with revocation asks (`departures::remove`).
        ops.require_fresh(freshness).await?;
    }
    let user = target(ops, user_id).await?;
    let own = user.id == admin.id;
    match change {
        UserChange::Disable { .. } if own => {
            return Err(OpError::Refused(
                "You cannot disable your own account.".into(),
            ));
        }
        UserChange::RevokeAdmin if own => {
            return Err(OpError::Refused(
                "You cannot take away your own administrator right; ask another administrator."
                    .into(),
            ));
        }
        _ => {}
    }
    let outcome = match change {
        UserChange::Disable { .. } => db::users::set_disabled(&ops.db, &user.id, true).await,
        UserChange::Enable => db::users::set_disabled(&ops.db, &user.id, false).await,
        UserChange::MakeAdmin => db::users::set_admin(&ops.db, &user.id, true).await,
        UserChange::RevokeAdmin => db::users::set_admin(&ops.db, &user.id, false).await,
    };
    match outcome {
        Ok(()) => {}
        Err(AdminChangeError::LastAdmin) => {
            return Err(OpError::Refused(
                "Refused: no enabled instance administrator would remain.".into(),
            ));
        }
        Err(AdminChangeError::Database(e)) => return Err(e.into()),
    }
    if matches!(change, UserChange::Disable { .. } | UserChange::Enable) {
        // An administrator decides now, not the provider: a later sign-in there does not
        // enable an account disabled here by hand, even one the provider had refused before.
        db::sso::set_suspended(&ops.db, &user.id, false).await?;
    }
    match change {
        UserChange::Disable { revoke_at } => {
            let (flagged, scheduled) =
                super::departures::record_everywhere(ops, &user, revoke_at, actor).await?;
            let mut detail = if flagged > 0 {
                format!("{flagged} keys they saw flagged for rotation")
            } else {
                String::new()
            };
            if let Some(at) = revoke_at.filter(|_| scheduled > 0) {
                if !detail.is_empty() {
                    detail.push_str("; ");
                }
                detail.push_str(&format!(
                    "{scheduled} of their keys to be revoked at their backends on {}",
                    crate::domain::time::day(at)
                ));
            }
            record_on_member(ops, actor, AuditAction::UserDisable, &user, &detail).await?;
        }
        UserChange::Enable => {
            record_instance(ops, actor, AuditAction::UserEnable, &user.email, "").await?;
        }
        UserChange::MakeAdmin => {
            record_instance(ops, actor, AuditAction::UserPromote, &user.email, "").await?;
        }
        UserChange::RevokeAdmin => {
            record_instance(ops, actor, AuditAction::UserDemote, &user.email, "").await?;
        }
    }
    tracing::info!(by = %admin.id, user = %user.id, ?change, "account changed");
    Ok(user)
}

async fn target(ops: &Ops, user_id: &str) -> Result<User, OpError> {
    db::users::find(&ops.db, user_id)
        .await?
        .ok_or(OpError::NotFound)
}

/// Changes who must enrol; instance admins only; audited as a settings change.
pub async fn set_two_factor_policy(
    ops: &Ops,
    admin: &User,
    actor: &Actor,
    new: TwoFactorPolicy,
) -> Result<(), OpError> {
    require_instance(admin, InstanceAction::ManageSettings)?;
    let old = two_factor::policy(ops).await?;
    if old == new {
        return Ok(());
    }
    settings::set(ops.db.pool(), settings::TWO_FACTOR_REQUIRED, new.as_str()).await?;
    let detail = format!("{} -> {}", old.as_str(), new.as_str());
    record_instance(
        ops,
        actor,
        AuditAction::SettingsChange,
        settings::TWO_FACTOR_REQUIRED,
        &detail,
    )
    .await?;
    tracing::info!(by = %admin.id, policy = new.as_str(), "two-factor policy changed");
    Ok(())
}
