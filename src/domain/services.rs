//! Services (what credentials are for) and their endpoints.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    /// S3-compatible object storage: access key id and secret access key.
    S3,
    /// OpenStack Keystone v3 with Swift: user name, project and domain, password.
    OpenStack,
    /// A generic API key, optionally with a secret.
    Api,
}

impl ServiceKind {
    pub const ALL: [ServiceKind; 3] = [ServiceKind::S3, ServiceKind::OpenStack, ServiceKind::Api];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::S3 => "s3",
            ServiceKind::OpenStack => "openstack",
            ServiceKind::Api => "api",
        }
    }

    pub fn parse(value: &str) -> Option<ServiceKind> {
        ServiceKind::ALL.into_iter().find(|k| k.as_str() == value)
    }

    pub fn label(self) -> &'static str {
        match self {
            ServiceKind::S3 => "S3-compatible object storage",
            ServiceKind::OpenStack => "OpenStack (Keystone v3 and Swift)",
            ServiceKind::Api => "API key",
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    Public,
    Private,
    /// The authentication endpoint, e.g. Keystone's `/v3`.
    Auth,
}

impl Interface {
    pub const ALL: [Interface; 3] = [Interface::Public, Interface::Private, Interface::Auth];

    pub fn as_str(self) -> &'static str {
        match self {
            Interface::Public => "public",
            Interface::Private => "private",
            Interface::Auth => "auth",
        }
    }

    pub fn parse(value: &str) -> Option<Interface> {
        Interface::ALL.into_iter().find(|i| i.as_str() == value)
    }
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub const DEFAULT_MAX_KEYS: i64 = 2;
pub const MAX_KEYS_RANGE: std::ops::RangeInclusive<i64> = 1..=5;

/// What a credential is, within its service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    /// The service's own kind of key: an S3 key pair, an OpenStack user's password, an API key.
    Key,
    /// An EC2 key pair for the S3 API of an OpenStack cloud.
    Ec2,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Key => "key",
            CredentialKind::Ec2 => "ec2",
        }
    }

    pub fn parse(value: &str) -> Option<CredentialKind> {
        match value {
            "key" => Some(CredentialKind::Key),
            "ec2" => Some(CredentialKind::Ec2),
            _ => None,
        }
    }

    /// The kind of key pair it is, in the terms of the service kinds: EC2 pairs are S3 pairs.
    pub fn key_style(self, service: ServiceKind) -> ServiceKind {
        match self {
            CredentialKind::Key => service,
            CredentialKind::Ec2 => ServiceKind::S3,
        }
    }
}

/// Where a service's keys are issued, rotated and revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverKind {
    /// No backend: Keyport keeps the keys it is given (or generates them).
    Stored,
    /// OpenStack Keystone v3: user passwords and EC2 key pairs.
    Keystone,
    /// An AWS-IAM-compatible query API: access keys.
    AwsIam,
}

impl DriverKind {
    pub const ALL: [DriverKind; 3] = [DriverKind::Stored, DriverKind::Keystone, DriverKind::AwsIam];

    pub fn as_str(self) -> &'static str {
        match self {
            DriverKind::Stored => "stored",
            DriverKind::Keystone => "keystone",
            DriverKind::AwsIam => "aws_iam",
        }
    }

    pub fn parse(value: &str) -> Option<DriverKind> {
        DriverKind::ALL.into_iter().find(|d| d.as_str() == value)
    }

    /// Whether keys live at a backend that Keyport calls.
    pub fn is_remote(self) -> bool {
        self != DriverKind::Stored
    }
}

impl fmt::Display for DriverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a credential is in its life at the backend. Every state but `Active` is the intent of an
/// operation that has not finished (see `ops::lifecycle`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialState {
    Active,
    /// Added: the row holds the owner's place, the backend may not have the key yet.
    Creating,
    /// Regenerated: the backend may hold the new key (chosen in `pending_*`) too.
    Rotating,
    /// Regenerated: the new key is in place, the old one (in `pending_access_key`) is still valid.
    Retiring,
    /// Deleted: the backend may still hold the key.
    Deleting,
}

impl CredentialState {
    pub const ALL: [CredentialState; 5] = [
        CredentialState::Active,
        CredentialState::Creating,
        CredentialState::Rotating,
        CredentialState::Retiring,
        CredentialState::Deleting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CredentialState::Active => "active",
            CredentialState::Creating => "creating",
            CredentialState::Rotating => "rotating",
            CredentialState::Retiring => "retiring",
            CredentialState::Deleting => "deleting",
        }
    }

    pub fn parse(value: &str) -> Option<CredentialState> {
        CredentialState::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
    }

    pub fn is_active(self) -> bool {
        self == CredentialState::Active
    }
}

impl fmt::Display for CredentialState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in ServiceKind::ALL {
            assert_eq!(ServiceKind::parse(kind.as_str()), Some(kind));
        }
        for driver in DriverKind::ALL {
            assert_eq!(DriverKind::parse(driver.as_str()), Some(driver));
        }
        for state in CredentialState::ALL {
            assert_eq!(CredentialState::parse(state.as_str()), Some(state));
        }
        for kind in [CredentialKind::Key, CredentialKind::Ec2] {
            assert_eq!(CredentialKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(DriverKind::parse("s3"), None);
        assert_eq!(CredentialState::parse("done"), None);
        assert_eq!(CredentialKind::parse(""), None);
    }
}
