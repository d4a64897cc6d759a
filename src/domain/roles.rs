//! Project roles and what each may do. Every operation asks [`allows`] (through
//! `ops::Principal`); nothing else decides.

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

impl TryFrom<String> for Role {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Role::parse(&value).ok_or_else(|| format!("unknown role {value:?}"))
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
    /// Add, edit and remove services, their endpoints, their backends, and the project's apps.
    ManageServices,
    ViewAudit,
    /// Something done to a credential, by its owner (`Whose::Own`) or to someone else's.
    Credential(CredentialAction, Whose),
    /// Something done to the whole instance, outside any project.
    Instance(InstanceAction),
    /// Delete every object of a bucket, to delete the bucket.
    EmptyBucket,
}

/// What only instance administrators do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceAction {
    /// Create, disable, promote users; set-password links.
    ManageUsers,
    /// Instance settings (the two-factor policy).
    ManageSettings,
    /// The audit log of events outside projects.
    ViewAudit,
    CreateProject,
    /// The health of every project's keys: their ages, uses and flags, never a key itself.
    ViewKeyHealth,
}

/// Where the one asking stands: a member of the project at hand in their role, or a user of the
/// instance (an instance administrator or not). A project role never grants an instance action,
/// and administering the instance never grants a project action: projects are reached by
/// membership alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Member(Role),
    User { instance_admin: bool },
}

impl From<Role> for Standing {
    fn from(role: Role) -> Self {
        Standing::Member(role)
    }
}

/// What may be done to a credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialAction {
    /// Add a key that Keyport or the backend generates.
    Add,
    /// Record a key made elsewhere (its secret typed in).
    Import,
    /// See the secret, or a configuration that holds it.
    Reveal,
    Regenerate,
    Delete,
    /// Change name, description, expiry, enabled.
    Edit,
    /// One real request with the key at its service.
    Test,
    /// Act at the service's S3 API with the key: the Buckets console.
    Buckets,
}

impl CredentialAction {
    pub const ALL: [CredentialAction; 8] = [
        CredentialAction::Add,
        CredentialAction::Import,
        CredentialAction::Reveal,
        CredentialAction::Regenerate,
        CredentialAction::Delete,
        CredentialAction::Edit,
        CredentialAction::Test,
        CredentialAction::Buckets,
    ];
}

/// Whose credential: the acting member's own, or another member's or an app's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whose {
    Own,
    Others,
}

/// The one decision of who may do what, in a project or in the instance.
pub fn allows(standing: impl Into<Standing>, action: Action) -> bool {
    let role = match (standing.into(), action) {
        (Standing::User { instance_admin }, Action::Instance(_)) => return instance_admin,
        (Standing::User { .. }, _) | (Standing::Member(_), Action::Instance(_)) => return false,
        (Standing::Member(role), _) => role,
    };
    match action {
        Action::Instance(_) => false,
        Action::ViewProject | Action::ViewMembers => true,
        Action::ManageMembers | Action::ManageServices | Action::ViewAudit => role >= Role::Admin,
        Action::EmptyBucket => role >= Role::Admin,
        // Members record the keys their provider gave them (services without a backend);
        // admins and owners record anyone's, app keys too.
        // Members hold and manage their own keys; admins and owners everyone's (app keys too).
        Action::Credential(_, Whose::Own) => role >= Role::Member,
        Action::Credential(_, Whose::Others) => role >= Role::Admin,
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

    /// Every role × every action, written out as a table: a change to [`allows`] shows here.
    #[test]
    fn every_role_and_action() {
        use CredentialAction::*;
        use Role::*;
        // (action, [owner, admin, member, viewer])
        let table: Vec<(Action, [bool; 4])> = vec![
            (Action::ViewProject, [true, true, true, true]),
            (Action::ViewMembers, [true, true, true, true]),
            (Action::ManageMembers, [true, true, false, false]),
            (Action::ManageServices, [true, true, false, false]),
            (Action::ViewAudit, [true, true, false, false]),
            (
                Action::Credential(Add, Whose::Own),
                [true, true, true, false],
            ),
            (
                Action::Credential(Add, Whose::Others),
                [true, true, false, false],
            ),
            (
                Action::Credential(Import, Whose::Own),
                [true, true, true, false],
            ),
            (
                Action::Credential(Import, Whose::Others),
                [true, true, false, false],
            ),
            (
                Action::Credential(Reveal, Whose::Own),
                [true, true, true, false],
            ),
            (
                Action::Credential(Reveal, Whose::Others),
                [true, true, false, false],
            ),
            (
                Action::Credential(Regenerate, Whose::Own),
                [true, true, true, false],
            ),
            (
                Action::Credential(Regenerate, Whose::Others),
                [true, true, false, false],
            ),
            (
                Action::Credential(Delete, Whose::Own),
                [true, true, true, false],
            ),
            (
                Action::Credential(Delete, Whose::Others),
                [true, true, false, false],
            ),
            (
                Action::Credential(Edit, Whose::Own),
                [true, true, true, false],
            ),
            (
                Action::Credential(Edit, Whose::Others),
                [true, true, false, false],
            ),
            (
                Action::Credential(Test, Whose::Own),
                [true, true, true, false],
            ),
            (
                Action::Credential(Test, Whose::Others),
                [true, true, false, false],
            ),
            (
                Action::Credential(Buckets, Whose::Own),
                [true, true, true, false],
            ),
            (
                Action::Credential(Buckets, Whose::Others),
                [true, true, false, false],
            ),
            (Action::EmptyBucket, [true, true, false, false]),
        ];
        let credential_rows = table
            .iter()
            .filter(|(a, _)| matches!(a, Action::Credential(..)))
            .count();
        assert_eq!(
            credential_rows,
            CredentialAction::ALL.len() * 2,
            "every credential action is in the table"
        );
        for (action, expected) in table {
            for (role, allowed) in [Owner, Admin, Member, Viewer].into_iter().zip(expected) {
                assert_eq!(allows(role, action), allowed, "{role} {action:?}");
            }
        }
    }

    #[test]
    fn instance_actions_are_for_instance_admins_and_never_come_with_a_project_role() {
        use InstanceAction::*;
        for action in [
            ManageUsers,
            ManageSettings,
            ViewAudit,
            CreateProject,
            ViewKeyHealth,
        ] {
            let action = Action::Instance(action);
            assert!(allows(
                Standing::User {
                    instance_admin: true
                },
                action
            ));
            assert!(!allows(
                Standing::User {
                    instance_admin: false
                },
                action
            ));
            for role in Role::ALL {
                assert!(!allows(role, action), "{role} {action:?}");
            }
        }
        assert!(
            !allows(
                Standing::User {
                    instance_admin: true
                },
                Action::ViewProject
            ),
            "an instance admin reaches a project by membership only"
        );
    }

    #[test]
    fn roles_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
