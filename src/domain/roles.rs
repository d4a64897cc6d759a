//! Project roles and what each may do. Every handler asks [`allows`]; nothing else decides.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Member,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Member, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == value)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Role::Owner => "everything, including managing owners",
            Role::Admin => "manages members, services and app keys",
            Role::Member => "sees and manages their own keys",
            Role::Viewer => "sees the project without secrets",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a member may want to do in a project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    ViewProject,
    ViewMembers,
    ManageMembers,
    /// Add, edit and remove services, their endpoints, and the project's apps.
    ManageServices,
    ViewAudit,
}

pub fn allows(role: Role, action: Action) -> bool {
    match action {
        Action::ViewProject | Action::ViewMembers => true,
        Action::ManageMembers | Action::ManageServices | Action::ViewAudit => role >= Role::Admin,
    }
}

/// Whether `role` may reveal, regenerate, edit or delete a credential: members their own keys,
/// admins and owners any key of the project (app keys and other members' keys).
pub fn may_manage_credential(role: Role, own: bool) -> bool {
    if own {
        role >= Role::Member
    } else {
        role >= Role::Admin
    }
}

/// Whether `actor` may change a member from role `from` (None: not yet a member) to role `to`
/// (None: removed). Only owners grant, change or take away the owner role.
pub fn may_change_membership(actor: Role, from: Option<Role>, to: Option<Role>) -> bool {
    if !allows(actor, Action::ManageMembers) {
        return false;
    }
    let touches_owner = from == Some(Role::Owner) || to == Some(Role::Owner);
    !touches_owner || actor == Role::Owner
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_and_owners_manage_members() {
        assert!(allows(Role::Owner, Action::ManageMembers));
        assert!(allows(Role::Admin, Action::ManageMembers));
        assert!(!allows(Role::Member, Action::ManageMembers));
        assert!(!allows(Role::Viewer, Action::ManageMembers));
        assert!(allows(Role::Viewer, Action::ViewProject));
    }

    #[test]
    fn only_owners_touch_the_owner_role() {
        use Role::*;
        assert!(may_change_membership(Admin, None, Some(Member)));
        assert!(may_change_membership(Admin, Some(Viewer), Some(Admin)));
        assert!(!may_change_membership(Admin, None, Some(Owner)));
        assert!(!may_change_membership(Admin, Some(Owner), Some(Member)));
        assert!(!may_change_membership(Admin, Some(Owner), None));
        assert!(may_change_membership(Owner, Some(Owner), Some(Viewer)));
        assert!(!may_change_membership(Member, None, Some(Viewer)));
    }

    #[test]
    fn members_manage_their_keys_and_admins_everyones() {
        assert!(may_manage_credential(Role::Member, true));
        assert!(!may_manage_credential(Role::Member, false));
        assert!(!may_manage_credential(Role::Viewer, true));
        assert!(may_manage_credential(Role::Admin, false));
        assert!(may_manage_credential(Role::Owner, false));
    }

    #[test]
    fn roles_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
