//! Who is in a project and with which role: listing, adding, changing and removing members.
//! Admins and owners manage members; only owners touch the owner role; a project keeps an owner.

use std::collections::HashSet;

use super::{FieldErrors, OpError, Ops, Principal, projects::unexpected};
use crate::{
    db::{
        self,
        projects::{Member, ProjectError},
        users::User,
    },
    domain::{
        audit::AuditAction,
        roles::{Action, Role, may_change_membership},
        validate,
    },
};

/// A project's members, and what the principal may do to them.
pub struct Roster {
    pub members: Vec<Member>,
    /// Whether the principal adds, changes and removes members at all.
    pub may_manage: bool,
    /// The roles the principal may hand out, highest first.
    pub grantable: Vec<Role>,
    /// The user ids of the members the principal may change or remove.
    pub changeable: HashSet<String>,
}

pub async fn list(ops: &Ops, who: &Principal) -> Result<Roster, OpError> {
    who.require(Action::ViewMembers)?;
    let members = db::projects::members(&ops.db, &who.project().id).await?;
    let grantable = Role::ALL
        .into_iter()
        .filter(|role| may_change_membership(who.role(), None, Some(*role)))
        .collect();
    let changeable = members
        .iter()
        .filter(|m| may_change_membership(who.role(), Some(m.role), None))
        .map(|m| m.user_id.clone())
        .collect();
    Ok(Roster {
        may_manage: who.may(Action::ManageMembers),
        members,
        grantable,
        changeable,
    })
}

/// What the add-member form asks for. The role is the text chosen, so that an unknown one is
/// told next to its field.
pub struct NewMember<'a> {
    pub email: &'a str,
    pub role: &'a str,
}

/// Adds an existing user to the principal's project.
pub async fn add(ops: &Ops, who: &Principal, new: NewMember<'_>) -> Result<Member, OpError> {
    who.require(Action::ManageMembers)?;
    // People are managed by people: an app, whatever its role, changes no membership.
    who.member()?;
    let mut errors = FieldErrors::default();
    let role = Role::parse(new.role);
    match role {
        None => errors.add("role", "Choose one of the roles."),
        Some(role) if !may_change_membership(who.role(), None, Some(role)) => {
            errors.add("role", "Only owners may add owners.")
        }
        Some(_) => {}
    }
    let user = match validate::email(new.email) {
        Ok(email) => {
            let user = db::users::find_by_email(&ops.db, &email).await?;
            if user.is_none() {
                errors.add(
                    "email",
                    "No user has this email. An instance administrator creates users.",
                );
            }
            user
        }
        Err(message) => {
            errors.add("email", message);
            None
        }
    };
    let (Some(user), Some(role), true) = (user, role, errors.is_empty()) else {
        return Err(OpError::Invalid(errors));
    };
    match db::projects::add_member(&ops.db, &who.project().id, &user.id, role).await {
        Ok(()) => {}
        Err(ProjectError::AlreadyMember) => {
            return Err(OpError::field("email", "This user is already a member."));
        }
        Err(e) => return Err(unexpected(e)),
    }
    tracing::info!(by = %who.actor().label, project = %who.project().id, user = %user.id, %role, "member added");
    let detail = format!("role {role}");
    db::audit::record(
        &ops.db,
        Some(&who.project().id),
        who.actor(),
        AuditAction::MemberAdd,
        &user.email,
        &detail,
    )
    .await?;
    Ok(Member {
        user_id: user.id,
        email: user.email,
        name: user.name,
        role,
        disabled: user.disabled,
    })
}

/// Gives the member `user_id` another role; returns that member's account.
pub async fn change_role(
    ops: &Ops,
    who: &Principal,
    user_id: &str,
    role: Role,
) -> Result<User, OpError> {
    change(ops, who, user_id, Some(role)).await
}

/// The member `user_id` of the principal's project, for their remove confirmation: only one
/// the principal may remove (as the members page offers), since the confirmation shows the
/// keys they hold and saw.
pub async fn to_remove(ops: &Ops, who: &Principal, user_id: &str) -> Result<Member, OpError> {
    who.require(Action::ManageMembers)?;
    let member = db::projects::members(&ops.db, &who.project().id)
        .await?
        .into_iter()
        .find(|m| m.user_id == user_id)
        .ok_or(OpError::NotFound)?;
    if !may_change_membership(who.role(), Some(member.role), None) {
        return Err(OpError::Forbidden(
            "Only owners may grant, change or take away the owner role.",
        ));
    }
    Ok(member)
}

/// Takes the member `user_id` out of the project; returns that member's account.
pub async fn remove(ops: &Ops, who: &Principal, user_id: &str) -> Result<User, OpError> {
    change(ops, who, user_id, None).await
}

/// Changes (Some) or removes (None) a membership. Whether the principal may is decided again
/// in the database's transaction, on the roles as they are then.
async fn change(
    ops: &Ops,
    who: &Principal,
    user_id: &str,
    to: Option<Role>,
) -> Result<User, OpError> {
    who.require(Action::ManageMembers)?;
    let target = db::users::find(&ops.db, user_id)
        .await?
        .ok_or(OpError::NotFound)?;
    let actor = who.member()?;
    let change = db::projects::change_member(&ops.db, &who.project().id, &actor.id, user_id, to);
    match change.await {
        Ok(()) => {}
        Err(ProjectError::LastOwner) => {
            return Err(OpError::Refused(
                "A project keeps at least one owner: make someone else owner first.".into(),
            ));
        }
        Err(ProjectError::NotMember) => return Err(OpError::NotFound),
        Err(ProjectError::NotAllowed) => {
            return Err(OpError::Forbidden(
                "Only owners may grant, change or take away the owner role.",
            ));
        }
        Err(e) => return Err(unexpected(e)),
    }
    tracing::info!(by = %who.actor().label, project = %who.project().id, user = %user_id, to = ?to.map(Role::as_str), "membership changed");
    let (action, detail) = match to {
        Some(role) => (AuditAction::MemberRole, format!("role {role}")),
        None => (AuditAction::MemberRemove, String::new()),
    };
    db::audit::record(
        &ops.db,
        Some(&who.project().id),
        who.actor(),
        action,
        &target.email,
        &detail,
    )
    .await?;
    Ok(target)
}
