//! What the health page flags about a key: from its service's rotation policy, its expiry, its
//! state, and Keyport's own record of its use (the Shows, Copies and Downloads of its secret).

use super::rotation::{DAY, Deadline, RotationPolicy};

/// A key whose latest recorded use is older than this many days is "unused".
pub const UNUSED_DAYS: i64 = 90;

/// Something worth an admin's look about a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFlag {
    /// Older than its service's maximum age.
    Overdue,
    /// Within the warning window before its maximum age.
    DueSoon,
    Expired,
    /// Within the warning window before its expiry.
    ExpiringSoon,
    /// Keyport has no record of its secret being shown, copied or downloaded.
    NeverUsed,
    /// Its secret was last shown, copied or downloaded more than [`UNUSED_DAYS`] ago.
    Unused,
    /// A Show found its secret does not decrypt, since it last changed.
    Damaged,
    /// An operation at the backend did not finish (its state is not `active`).
    Unfinished,
    Disabled,
    /// A member who left the project (or was disabled) had shown, copied or downloaded its
    /// secret, and it was not rotated since.
    SeenByDeparted,
}

impl KeyFlag {
    pub const ALL: [KeyFlag; 10] = [
        KeyFlag::Overdue,
        KeyFlag::DueSoon,
        KeyFlag::Expired,
        KeyFlag::ExpiringSoon,
        KeyFlag::NeverUsed,
        KeyFlag::Unused,
        KeyFlag::Damaged,
        KeyFlag::Unfinished,
        KeyFlag::Disabled,
        KeyFlag::SeenByDeparted,
    ];

    /// The flag's name in URLs and in the CSV download.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyFlag::Overdue => "overdue",
            KeyFlag::DueSoon => "due-soon",
            KeyFlag::Expired => "expired",
            KeyFlag::ExpiringSoon => "expiring-soon",
            KeyFlag::NeverUsed => "never-used",
            KeyFlag::Unused => "unused",
            KeyFlag::Damaged => "damaged",
            KeyFlag::Unfinished => "unfinished",
            KeyFlag::Disabled => "disabled",
            KeyFlag::SeenByDeparted => "seen-by-departed",
        }
    }

    pub fn parse(value: &str) -> Option<KeyFlag> {
        KeyFlag::ALL.into_iter().find(|f| f.as_str() == value)
    }

    /// The flag in words, as the page shows it.
    pub fn label(self) -> &'static str {
        match self {
            KeyFlag::Overdue => "overdue",
            KeyFlag::DueSoon => "rotation due soon",
            KeyFlag::Expired => "expired",
            KeyFlag::ExpiringSoon => "expiring soon",
            KeyFlag::NeverUsed => "never used",
            KeyFlag::Unused => "unused for 90 days",
            KeyFlag::Damaged => "damaged",
            KeyFlag::Unfinished => "unfinished operation",
            KeyFlag::Disabled => "disabled",
            KeyFlag::SeenByDeparted => "rotate: seen by a departed member",
        }
    }

    /// Whether the flag asks for action rather than attention (the page's colour).
    pub fn is_serious(self) -> bool {
        matches!(
            self,
            KeyFlag::Overdue
                | KeyFlag::Expired
                | KeyFlag::Damaged
                | KeyFlag::Unfinished
                | KeyFlag::SeenByDeparted
        )
    }

    fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// A key's flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags(u16);

impl Flags {
    pub fn contains(self, flag: KeyFlag) -> bool {
        self.0 & flag.bit() != 0
    }

    fn insert(&mut self, flag: KeyFlag) {
        self.0 |= flag.bit();
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = KeyFlag> {
        KeyFlag::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

/// What a key's flags are computed from.
#[derive(Clone, Copy, Debug)]
pub struct KeyFacts {
    /// Its last rotation, or its creation.
    pub last_change: i64,
    pub expires_at: Option<i64>,
    pub enabled: bool,
    /// Its state is `active`: no operation at the backend is under way or interrupted.
    pub active: bool,
    /// The latest Show, Copy or Download of its secret.
    pub last_used: Option<i64>,
    /// The latest Show that found its secret does not decrypt.
    pub damaged_at: Option<i64>,
    /// When the latest member who had seen its secret left (`db::departures`).
    pub departed_at: Option<i64>,
}

/// The flags of a key with `facts` under `policy`, at `now`.
pub fn flags(policy: &RotationPolicy, facts: &KeyFacts, now: i64) -> Flags {
    let mut flags = Flags::default();
    for (flag, _) in deadlines(policy, facts, now) {
        flags.insert(flag);
    }
    match facts.last_used {
        None => flags.insert(KeyFlag::NeverUsed),
        Some(at) if now - at > UNUSED_DAYS * DAY => flags.insert(KeyFlag::Unused),
        Some(_) => {}
    }
    // A regeneration after the failed Show replaced the secret.
    if facts.damaged_at.is_some_and(|at| at >= facts.last_change) {
        flags.insert(KeyFlag::Damaged);
    }
    if !facts.active {
        flags.insert(KeyFlag::Unfinished);
    }
    if !facts.enabled {
        flags.insert(KeyFlag::Disabled);
    }
    // A regeneration after the departure replaced the secret they saw.
    if facts.departed_at.is_some_and(|at| at > facts.last_change) {
        flags.insert(KeyFlag::SeenByDeparted);
    }
    flags
}

/// The flags of a key's two deadlines (the rotation its policy asks for, its own expiry) when
/// passed or near at `now`, each with its deadline: the health page and the reminders read these.
pub fn deadlines(
    policy: &RotationPolicy,
    facts: &KeyFacts,
    now: i64,
) -> impl Iterator<Item = (KeyFlag, Deadline)> {
    let stage = |deadline: Deadline, past: KeyFlag, near: KeyFlag| {
        if deadline.is_past() {
            Some((past, deadline))
        } else if deadline.is_near() {
            Some((near, deadline))
        } else {
            None
        }
    };
    let rotation = policy
        .rotation(facts.last_change, now)
        .and_then(|due| stage(due, KeyFlag::Overdue, KeyFlag::DueSoon));
    let expiry = policy
        .expiry(facts.expires_at, now)
        .and_then(|at| stage(at, KeyFlag::Expired, KeyFlag::ExpiringSoon));
    rotation.into_iter().chain(expiry)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn healthy() -> KeyFacts {
        KeyFacts {
            last_change: NOW - 10 * DAY,
            expires_at: None,
            enabled: true,
            active: true,
            last_used: Some(NOW - DAY),
            damaged_at: None,
            departed_at: None,
        }
    }

    fn of(policy: RotationPolicy, facts: KeyFacts) -> Vec<KeyFlag> {
        flags(&policy, &facts, NOW).iter().collect()
    }

    #[test]
    fn each_condition_raises_its_flag_and_a_healthy_key_has_none() {
        let policy = RotationPolicy {
            max_age_days: Some(30),
            warning_days: Some(7),
        };
        assert_eq!(of(policy, healthy()), []);
        let cases = [
            (
                NOW - 31 * DAY,
                None,
                true,
                true,
                Some(NOW),
                None,
                KeyFlag::Overdue,
            ),
            (
                NOW - 25 * DAY,
                None,
                true,
                true,
                Some(NOW),
                None,
                KeyFlag::DueSoon,
            ),
            (
                NOW,
                Some(NOW - 1),
                true,
                true,
                Some(NOW),
                None,
                KeyFlag::Expired,
            ),
            (
                NOW,
                Some(NOW + DAY),
                true,
                true,
                Some(NOW),
                None,
                KeyFlag::ExpiringSoon,
            ),
            (NOW, None, true, true, None, None, KeyFlag::NeverUsed),
            (
                NOW,
                None,
                true,
                true,
                Some(NOW - 91 * DAY),
                None,
                KeyFlag::Unused,
            ),
            (
                NOW - DAY,
                None,
                true,
                true,
                Some(NOW),
                Some(NOW),
                KeyFlag::Damaged,
            ),
            (NOW, None, true, false, Some(NOW), None, KeyFlag::Unfinished),
            (NOW, None, false, true, Some(NOW), None, KeyFlag::Disabled),
        ];
        for (last_change, expires_at, enabled, active, last_used, damaged_at, flag) in cases {
            let facts = KeyFacts {
                last_change,
                expires_at,
                enabled,
                active,
                last_used,
                damaged_at,
                departed_at: None,
            };
            assert_eq!(of(policy, facts), [flag], "{flag:?}");
        }
        // A key without a policy is never due; a regenerated damaged key is whole again.
        let old = KeyFacts {
            last_change: NOW - 999 * DAY,
            damaged_at: Some(NOW - 1000 * DAY),
            ..healthy()
        };
        assert_eq!(of(RotationPolicy::default(), old), []);
        // Seen by a member who left since its last change; rotated after they left.
        let seen = KeyFacts {
            departed_at: Some(NOW - DAY),
            last_change: NOW - 2 * DAY,
            ..healthy()
        };
        assert_eq!(
            of(RotationPolicy::default(), seen),
            [KeyFlag::SeenByDeparted]
        );
        let rotated = KeyFacts {
            last_change: NOW,
            ..seen
        };
        assert_eq!(of(RotationPolicy::default(), rotated), []);
    }

    #[test]
    fn flags_round_trip_and_the_unused_label_tells_its_days() {
        for flag in KeyFlag::ALL {
            assert_eq!(KeyFlag::parse(flag.as_str()), Some(flag));
        }
        assert_eq!(KeyFlag::parse("fine"), None);
        assert_eq!(
            KeyFlag::Unused.label(),
            format!("unused for {UNUSED_DAYS} days")
        );
    }
}
