//! The provider's answer made into a Keyport account: the claims read (subject, email and its
//! verification, name, groups), the account found, linked or created, the refresh token sealed
//! for the checks, and the groups turned into the administrator right and project roles.

use serde_json::{Map, Value};

use super::Sso;
use crate::{
    crypto::envelope,
    db::{self, audit::Actor, sso::MembershipChange, users::User},
    domain::{audit::AuditAction, roles::Role, time::now, validate},
    ops::{OpError, Ops, audit::record_instance},
    providers::oidc::Tokens,
};

pub(super) fn string_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str).map(str::trim)
}

/// Whether the provider says the email is verified (`true`, or `"true"` as some providers send it).
fn email_verified(claims: &Map<String, Value>) -> bool {
    match claims.get("email_verified") {
        Some(Value::Bool(verified)) => *verified,
        Some(Value::String(verified)) => verified == "true",
        _ => false,
    }
}

/// The groups the ID token names (an array of strings, or one string); `None` when it names
/// none: the claim is absent (ID tokens of a refresh often leave it out), or not a list of
/// groups. That is not "in no groups": nothing is taken away for it.
fn groups(claims: &Map<String, Value>, claim: &str) -> Option<Vec<String>> {
    match claims.get(claim) {
        Some(Value::Array(values)) => Some(
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        ),
        Some(Value::String(one)) => Some(vec![one.clone()]),
        _ => None,
    }
}

/// The Keyport account of the provider's account: the one linked before, or, at the first
/// sign-in, an existing account of the same verified email (when linking is on) or a new one
/// (the email verified at the provider too).
pub(super) async fn account(
    ops: &Ops,
    sso: &Sso,
    claims: &Map<String, Value>,
    actor: &Actor,
) -> Result<User, OpError> {
    let settings = &sso.settings;
    let subject = string_claim(claims, "sub").unwrap_or_default();
    let email = string_claim(claims, &settings.email_claim)
        .map(validate::email)
        .and_then(Result::ok)
        .ok_or_else(|| {
            OpError::Refused(format!(
                "The provider gave no usable email address (claim {}).",
                settings.email_claim
            ))
        })?;
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    if !settings.allowed_email_domains.is_empty()
        && !settings
            .allowed_email_domains
            .iter()
            .any(|d| d.trim().eq_ignore_ascii_case(domain))
    {
        return Err(OpError::Refused(format!(
            "Accounts of {domain} may not sign in to this Keyport."
        )));
    }
    if let Some(identity) = db::sso::find_by_subject(&ops.db, sso.client.issuer(), subject).await? {
        let user = db::users::find(&ops.db, &identity.user_id)
            .await?
            .ok_or(OpError::NotFound)?;
        if user.disabled && identity.suspended == 0 {
            return Err(OpError::Refused(
                "Your Keyport account is disabled. Ask an administrator.".into(),
            ));
        }
        if user.disabled {
            // Keyport disabled it because the provider refused the account; the provider has
            // just signed it in again.
            db::users::set_disabled(&ops.db, &user.id, false)
                .await
                .map_err(|e| OpError::Internal(e.into()))?;
            db::sso::set_suspended(&ops.db, &user.id, false).await?;
            record_instance(
                ops,
                actor,
                AuditAction::UserEnable,
                &user.email,
                "the single sign-on provider signed the account in again",
            )
            .await?;
        }
        return db::users::find(&ops.db, &user.id)
            .await?
            .ok_or(OpError::NotFound);
    }
    if let Some(existing) = db::users::find_by_email(&ops.db, &email).await? {
        if !settings.link_by_email {
            return Err(OpError::Refused(format!(
                "A Keyport account with the email {email} exists and is not linked to your provider account. Ask an administrator."
            )));
        }
        if !email_verified(claims) {
            return Err(OpError::Refused(
                "The provider has not verified your email address: it cannot be linked to the existing Keyport account.".into(),
            ));
        }
        if existing.disabled {
            return Err(OpError::Refused(
                "Your Keyport account is disabled. Ask an administrator.".into(),
            ));
        }
        if db::sso::find(&ops.db, &existing.id).await?.is_some() {
            return Err(OpError::Refused(format!(
                "The Keyport account {email} is linked to another provider account."
            )));
        }
        record_instance(
            ops,
            actor,
            AuditAction::SsoLink,
            &existing.email,
            "linked by the verified email",
        )
        .await?;
        return Ok(existing);
    }
    // The email is the account's name here, and the domain allow-list judges by it: only an
    // address the provider verified makes an account.
    if !email_verified(claims) {
        return Err(OpError::Refused(
            "The provider has not verified your email address: no Keyport account is created for it. Verify it at the provider, then sign in again.".into(),
        ));
    }
    let name = string_claim(claims, &settings.name_claim)
        .map(validate::person_name)
        .and_then(Result::ok)
        .unwrap_or_else(|| email.clone());
    let new = db::users::NewUser {
        email: &email,
        name: &name,
        password_hash: None,
        is_admin: false,
    };
    let user = match db::users::create(ops.db.pool(), new).await {
        Ok(user) => user,
        Err(db::users::CreateUserError::EmailTaken) => {
            return Err(OpError::Refused(
                "Another sign-in created this account at the same moment. Sign in again.".into(),
            ));
        }
        Err(db::users::CreateUserError::Database(e)) => return Err(e.into()),
    };
    record_instance(
        ops,
        actor,
        AuditAction::UserCreate,
        &user.email,
        "at the first single sign-on",
    )
    .await?;
    Ok(user)
}

/// Links the account to the provider's and keeps the refresh token, sealed.
pub(super) async fn store_tokens(
    ops: &Ops,
    sso: &Sso,
    user: &User,
    claims: &Map<String, Value>,
    tokens: &Tokens,
) -> Result<(), OpError> {
    let sealed = tokens
        .refresh_token
        .as_ref()
        .map(|t| envelope::seal_provider_token(&ops.master, &user.id, t.as_bytes()));
    if sealed.is_none() {
        tracing::warn!(user = %user.id, "the provider gave no refresh token: the account cannot be checked there until its next sign-in (ask for offline access, see the README)");
    }
    db::sso::signed_in(
        &ops.db,
        &user.id,
        sso.client.issuer(),
        string_claim(claims, "sub").unwrap_or_default(),
        string_claim(claims, "sid").unwrap_or_default(),
        sealed.as_deref(),
    )
    .await?;
    Ok(())
}

/// The actor of the changes the provider's groups make.
pub(super) fn provider_actor() -> Actor {
    Actor {
        user_id: None,
        label: "single sign-on".into(),
        ip: String::new(),
        user_agent: String::new(),
    }
}

/// Applies the groups of the ID token: the instance administrator right (when admin groups are
/// configured) and the roles of the projects the mapping names. A token without the groups
/// claim changes nothing. Returns the user as now.
pub(super) async fn apply_groups(
    ops: &Ops,
    sso: &Sso,
    user: &User,
    claims: &Map<String, Value>,
) -> Result<User, OpError> {
    let settings = &sso.settings;
    let Some(groups) = groups(claims, &settings.groups_claim) else {
        if !settings.admin_groups.is_empty() || !settings.project_roles.is_empty() {
            tracing::info!(user = %user.id, claim = %settings.groups_claim, "the provider's ID token names no groups: the roles stay as they are");
        }
        return Ok(user.clone());
    };
    let actor = provider_actor();
    let in_group = |group: &str| groups.iter().any(|g| g == group);
    let mut user = user.clone();
    if !settings.admin_groups.is_empty() {
        let admin = settings.admin_groups.iter().any(|g| in_group(g.trim()));
        if admin != user.is_admin {
            match db::users::set_admin(&ops.db, &user.id, admin).await {
                Ok(()) => {
                    user.is_admin = admin;
                    let action = if admin {
                        AuditAction::UserPromote
                    } else {
                        AuditAction::UserDemote
                    };
                    record_instance(
                        ops,
                        &actor,
                        action,
                        &user.email,
                        "from the provider's groups",
                    )
                    .await?;
                }
                Err(db::users::AdminChangeError::LastAdmin) => {
                    tracing::warn!(user = %user.id, "the provider's groups would leave no instance administrator: the right is kept");
                }
                Err(db::users::AdminChangeError::Database(e)) => return Err(e.into()),
            }
        }
    }
    let mut projects: Vec<&str> = settings
        .project_roles
        .iter()
        .map(|m| m.project.as_str())
        .collect();
    projects.sort_unstable();
    projects.dedup();
    for slug in projects {
        let role = settings
            .project_roles
            .iter()
            .filter(|m| m.project == slug && in_group(&m.group))
            .filter_map(|m| Role::parse(&m.role))
            .max();
        let Some(project_id) = db::sso::project_id(&ops.db, slug).await? else {
            tracing::warn!(
                project = slug,
                "KEYPORT_OIDC_PROJECT_ROLES names a project that does not exist"
            );
            continue;
        };
        let change = db::sso::set_membership(&ops.db, &project_id, &user.id, role).await?;
        let (action, detail) = match (&change, role) {
            (MembershipChange::Added, Some(role)) => (AuditAction::MemberAdd, role.as_str()),
            (MembershipChange::Changed, Some(role)) => (AuditAction::MemberRole, role.as_str()),
            (MembershipChange::Removed, _) => (AuditAction::MemberRemove, ""),
            (MembershipChange::LastOwner, _) => {
                tracing::warn!(project = slug, user = %user.id, "the provider's groups would leave the project without an owner: the role is kept");
                continue;
            }
            _ => continue,
        };
        let mut detail = format!("{detail} from the provider's groups")
            .trim()
            .to_string();
        if change == MembershipChange::Removed {
            // A departure as any other: the keys of others they saw are flagged for rotation.
            // Their own keys stay at their backends (nobody chose a grace period).
            let flagged =
                db::departures::record(&ops.db, &project_id, &user.id, &user.email, now()).await?;
            if flagged > 0 {
                detail.push_str(&format!("; {flagged} keys they saw flagged for rotation"));
            }
        }
        db::audit::record(
            &ops.db,
            Some(&project_id),
            &actor,
            action,
            &user.email,
            &detail,
        )
        .await?;
    }
    Ok(user)
}
