//! A project's apps: the service identities that hold app keys. Every member sees them; admins
//! and owners create and delete them.

use super::{FieldErrors, OpError, Ops, Principal};
use crate::{
    db::{
        self,
        apps::{App, AppError},
    },
    domain::{
        audit::AuditAction,
        roles::{Action, Role},
        validate,
    },
};

/// A project's apps, and whether the principal may change them.
pub struct Apps {
    pub apps: Vec<App>,
    pub may_manage: bool,
}

pub async fn list(ops: &Ops, who: &Principal) -> Result<Apps, OpError> {
    who.require(Action::ViewProject)?;
    Ok(Apps {
        apps: db::apps::list(&ops.db, &who.project().id).await?,
        may_manage: who.may(Action::ManageServices),
    })
}

/// The app of the principal's project named `name`, if there is one.
pub async fn find_by_name(ops: &Ops, who: &Principal, name: &str) -> Result<Option<App>, OpError> {
    who.require(Action::ViewProject)?;
    let apps = db::apps::list(&ops.db, &who.project().id).await?;
    Ok(apps.into_iter().find(|a| a.name == name))
}

/// What the create-app form asks for.
pub struct NewApp<'a> {
    pub name: &'a str,
    pub description: &'a str,
    /// The role the app acts in, as typed (`viewer`, `member` or `admin`; empty: `member`).
    pub role: &'a str,
}

/// The roles an app may be given: an app does not manage the project's owners.
pub const APP_ROLES: [Role; 3] = [Role::Admin, Role::Member, Role::Viewer];

pub async fn create(ops: &Ops, who: &Principal, new: NewApp<'_>) -> Result<App, OpError> {
    who.require(Action::ManageServices)?;
    let mut errors = FieldErrors::default();
    let name = errors.check(
        "name",
        validate::label(new.name, "Name the app, e.g. nightly-backup."),
    );
    let description = errors.check("description", validate::description(new.description));
    // Left out, an app acts as a member would, as apps always did.
    let role = match new.role.trim() {
        "" => Some(Role::Member),
        typed => Role::parse(typed).filter(|role| APP_ROLES.contains(role)),
    };
    if role.is_none() {
        errors.add("role", "Choose the app's role: viewer, member or admin.");
    }
    errors.into_result()?;
    let role = role.expect("checked above");
    let created = db::apps::create(&ops.db, &who.project().id, &name, &description, role);
    let id = match created.await {
        Ok(id) => id,
        Err(AppError::NameTaken) => {
            return Err(OpError::field(
                "name",
                "An app with this name already exists in the project.",
            ));
        }
        Err(e) => return Err(unexpected(e)),
    };
    db::audit::record(
        &ops.db,
        Some(&who.project().id),
        who.actor(),
        AuditAction::AppCreate,
        &name,
        role.as_str(),
    )
    .await?;
    // Read back for its creation time; only a delete in between makes it missing.
    db::apps::find(&ops.db, &who.project().id, &id)
        .await?
        .ok_or(OpError::NotFound)
}

/// The app `id`, for its delete confirmation.
pub async fn to_delete(ops: &Ops, who: &Principal, id: &str) -> Result<App, OpError> {
    who.require(Action::ManageServices)?;
    db::apps::find(&ops.db, &who.project().id, id)
        .await?
        .ok_or(OpError::NotFound)
}

/// Deletes the app `id`; refused while it still holds keys.
pub async fn delete(ops: &Ops, who: &Principal, id: &str) -> Result<App, OpError> {
    who.require(Action::ManageServices)?;
    let app = db::apps::find(&ops.db, &who.project().id, id)
        .await?
        .ok_or(OpError::NotFound)?;
    match db::apps::delete(&ops.db, &who.project().id, id).await {
        Ok(_) => {}
        Err(AppError::HasCredentials) => {
            return Err(OpError::Refused(format!(
                "{} still holds keys: delete them first.",
                app.name
            )));
        }
        Err(e) => return Err(unexpected(e)),
    }
    db::audit::record(
        &ops.db,
        Some(&who.project().id),
        who.actor(),
        AuditAction::AppDelete,
        &app.name,
        "",
    )
    .await?;
    Ok(app)
}

/// An app error that no caller answers in its own words.
fn unexpected(e: AppError) -> OpError {
    match e {
        AppError::Database(e) => e.into(),
        other => OpError::Internal(other.into()),
    }
}
