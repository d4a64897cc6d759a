//! What the audit log records: one name for each kind of event.

use std::fmt;

macro_rules! audit_actions {
    ($($variant:ident => $name:literal,)*) => {
        /// An event of the audit log. The names are stored, shown and filtered on: never rename one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum AuditAction {
            $($variant,)*
        }

        impl AuditAction {
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $name,)*
                }
            }
        }
    };
}

audit_actions! {
    CredentialCreate => "credential.create",
    CredentialImport => "credential.import",
    CredentialReveal => "credential.reveal",
    CredentialCopy => "credential.copy",
    CredentialDownload => "credential.download",
    CredentialRegenerate => "credential.regenerate",
    CredentialDelete => "credential.delete",
    CredentialUpdate => "credential.update",
    CredentialTest => "credential.test",
    CredentialReconcile => "credential.reconcile",
    CredentialAdopt => "credential.adopt",
    CredentialRevoke => "credential.revoke",
    CredentialForget => "credential.forget",
    CredentialRotationStep => "credential.rotation",
    MemberAdd => "member.add",
    ProjectCreate => "project.create",
    MemberRole => "member.role",
    MemberRemove => "member.remove",
    ServiceCreate => "service.create",
    ServiceUpdate => "service.update",
    ServiceDelete => "service.delete",
    ServiceBackend => "service.backend",
    ServiceBackendLink => "service.backend_link",
    ServiceBackendUnlink => "service.backend_unlink",
    ServiceImportEndpoints => "service.import_endpoints",
    EndpointAdd => "endpoint.add",
    EndpointChange => "endpoint.change",
    EndpointDelete => "endpoint.delete",
    AppCreate => "app.create",
    AppDelete => "app.delete",
    ApiKeyCreate => "api_key.create",
    ApiKeyEnable => "api_key.enable",
    ApiKeyDisable => "api_key.disable",
    ApiKeyDelete => "api_key.delete",
    TokenRefreshReused => "token.refresh_reused",
    UserCreate => "user.create",
    UserDisable => "user.disable",
    UserEnable => "user.enable",
    UserPromote => "user.promote",
    UserDemote => "user.demote",
    UserPasswordLink => "user.password_link",
    SignInFailed => "sign_in.failed",
    SignInThrottled => "sign_in.throttled",
    SettingsChange => "settings.change",
    TwoFactorEnable => "two_factor.enable",
    TwoFactorDisable => "two_factor.disable",
    RecoveryCodeUse => "two_factor.recovery_code",
    StepUpFailed => "step_up.failed",
    RemindersTest => "reminders.test",
    SsoLink => "sso.link",
    SsoLogout => "sso.logout",
    MemberOffboard => "member.offboard",
    BucketCreate => "bucket.create",
    BucketDelete => "bucket.delete",
    ObjectUpload => "object.upload",
    ObjectDelete => "object.delete",
    ObjectDownload => "object.download",
}

impl AuditAction {
    pub fn parse(value: &str) -> Option<AuditAction> {
        AuditAction::ALL
            .iter()
            .copied()
            .find(|a| a.as_str() == value)
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(*action));
        }
        let mut names: Vec<_> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), AuditAction::ALL.len());
    }
}
