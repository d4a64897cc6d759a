//! Who must sign in with a second factor: an instance setting.

/// Who must enrol a second factor (and then give a code at every sign-in).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TwoFactorPolicy {
    /// Everyone may enrol; nobody must.
    #[default]
    Optional,
    /// Instance administrators must.
    Admins,
    /// Everyone must.
    Everyone,
}

impl TwoFactorPolicy {
    pub const ALL: [TwoFactorPolicy; 3] = [
        TwoFactorPolicy::Optional,
        TwoFactorPolicy::Admins,
        TwoFactorPolicy::Everyone,
    ];

    /// The stored value of the setting.
    pub fn as_str(self) -> &'static str {
        match self {
            TwoFactorPolicy::Optional => "optional",
            TwoFactorPolicy::Admins => "admins",
            TwoFactorPolicy::Everyone => "everyone",
        }
    }

    pub fn parse(value: &str) -> Option<TwoFactorPolicy> {
        Self::ALL.into_iter().find(|p| p.as_str() == value)
    }

    /// In words, for the settings page.
    pub fn label(self) -> &'static str {
        match self {
            TwoFactorPolicy::Optional => "Optional: each user decides",
            TwoFactorPolicy::Admins => "Required for instance administrators",
            TwoFactorPolicy::Everyone => "Required for everyone",
        }
    }

    /// Whether a user with the admin right `is_admin` must enrol.
    pub fn requires(self, is_admin: bool) -> bool {
        match self {
            TwoFactorPolicy::Optional => false,
            TwoFactorPolicy::Admins => is_admin,
            TwoFactorPolicy::Everyone => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_requires() {
        for policy in TwoFactorPolicy::ALL {
            assert_eq!(TwoFactorPolicy::parse(policy.as_str()), Some(policy));
        }
        assert_eq!(TwoFactorPolicy::parse("sometimes"), None);
        assert!(!TwoFactorPolicy::Optional.requires(true));
        assert!(TwoFactorPolicy::Admins.requires(true));
        assert!(!TwoFactorPolicy::Admins.requires(false));
        assert!(TwoFactorPolicy::Everyone.requires(false));
    }
}
