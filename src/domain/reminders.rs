//! Reminders: which conditions of a key are worth a message (rotation due soon or overdue,
//! expiry near or passed), the message in words, the webhook's signature, and how long a failed
//! delivery waits before its next attempt.

use std::time::Duration;

use super::{
    key_health::{KeyFacts, KeyFlag, deadlines},
    rotation::{DAY, Deadline, RotationPolicy},
    time,
};

/// A condition a key is in, reminded once per due date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionKind {
    /// Within the warning window before its service's maximum age.
    RotationDueSoon,
    /// Older than its service's maximum age.
    Overdue,
    /// Within the warning window before its own expiry.
    ExpiringSoon,
    Expired,
}

impl ConditionKind {
    pub const ALL: [ConditionKind; 4] = [
        ConditionKind::RotationDueSoon,
        ConditionKind::Overdue,
        ConditionKind::ExpiringSoon,
        ConditionKind::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConditionKind::RotationDueSoon => "rotation-due-soon",
            ConditionKind::Overdue => "overdue",
            ConditionKind::ExpiringSoon => "expiring-soon",
            ConditionKind::Expired => "expired",
        }
    }

    pub fn parse(value: &str) -> Option<ConditionKind> {
        ConditionKind::ALL.into_iter().find(|k| k.as_str() == value)
    }
}

/// A condition found: its kind and the moment it refers to (the due date of the rotation, or
/// the expiry), with the deadline as seen now for the words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Condition {
    pub kind: ConditionKind,
    pub deadline: Deadline,
}

impl Condition {
    /// "overdue by 12 days", "expires in 3 days".
    pub fn words(&self) -> String {
        match self.kind {
            ConditionKind::RotationDueSoon | ConditionKind::Overdue => {
                self.deadline.rotation_words().to_string()
            }
            ConditionKind::ExpiringSoon | ConditionKind::Expired => {
                self.deadline.expiry_words().to_string()
            }
        }
    }
}

/// The conditions of a key with `facts` under `policy` at `now`. A disabled key gets none: it
/// works nowhere, and nobody is to be asked to rotate it.
pub fn conditions(policy: &RotationPolicy, facts: &KeyFacts, now: i64) -> Vec<Condition> {
    if !facts.enabled {
        return Vec::new();
    }
    deadlines(policy, facts, now)
        .filter_map(|(flag, deadline)| {
            let kind = match flag {
                KeyFlag::Overdue => ConditionKind::Overdue,
                KeyFlag::DueSoon => ConditionKind::RotationDueSoon,
                KeyFlag::Expired => ConditionKind::Expired,
                KeyFlag::ExpiringSoon => ConditionKind::ExpiringSoon,
                _ => return None,
            };
            Some(Condition { kind, deadline })
        })
        .collect()
}

/// What a reminder is about, in names people know.
pub struct About<'a> {
    pub project_name: &'a str,
    pub service_name: &'a str,
    pub key_name: &'a str,
    pub owner_name: &'a str,
    /// Where the project's keys of the service are listed.
    pub link: &'a str,
}

/// A reminder's subject and text.
pub fn message(about: &About<'_>, condition: &Condition) -> (String, String) {
    let subject = format!(
        "Keyport: key {} of {} in {} {}",
        about.key_name,
        about.service_name,
        about.project_name,
        condition.words()
    );
    let what = match condition.kind {
        ConditionKind::RotationDueSoon => "is due for rotation on",
        ConditionKind::Overdue => "was due for rotation on",
        ConditionKind::ExpiringSoon => "expires on",
        ConditionKind::Expired => "expired on",
    };
    let advice = match condition.kind {
        ConditionKind::RotationDueSoon | ConditionKind::Overdue => {
            "Rotate it (Regenerate, or a second key first and then delete the old one)"
        }
        ConditionKind::ExpiringSoon | ConditionKind::Expired => {
            "Replace it before the programs that use it fail, or set a later expiry"
        }
    };
    let owner = if about.owner_name.is_empty() {
        String::new()
    } else {
        format!(" (held by {})", about.owner_name)
    };
    let text = format!(
        "The key \"{}\"{owner} of the service \"{}\" in the project \"{}\" {what} {} ({}).\n{advice}: {}\n",
        about.key_name,
        about.service_name,
        about.project_name,
        time::day(condition.deadline.at),
        condition.words(),
        about.link,
    );
    (subject, text)
}

/// The webhook's signature header, `X-Keyport-Signature: t=<unix seconds>,v1=<hex>`: the
/// HMAC-SHA256, under the shared secret, of the timestamp, a full stop and the body as sent.
pub const SIGNATURE_HEADER: &str = "X-Keyport-Signature";
/// The id of the message, the same on every attempt: a receiver drops what it already has.
pub const DELIVERY_HEADER: &str = "X-Keyport-Delivery";

pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut context = ring::hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    let tag = context.sign();
    format!("t={timestamp},v1={}", crate::crypto::hex(tag.as_ref()))
}

/// How long a delivery that failed `attempts` times waits before the next attempt: a minute,
/// doubled after each failure, at most six hours. It is never given up.
pub fn retry_delay(attempts: i64) -> Duration {
    let doublings = attempts.clamp(1, 20) - 1;
    Duration::from_secs(60u64 << doublings).min(Duration::from_secs(6 * 3600))
}

/// How long a sender holds a claimed delivery before another may take it: far more than an
/// attempt takes (each has a 20-second timeout).
pub const CLAIM: Duration = Duration::from_secs(120);

/// How often the check for new conditions runs.
pub const CHECK_EVERY: i64 = DAY;

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn facts(last_change: i64, expires_at: Option<i64>, enabled: bool) -> KeyFacts {
        KeyFacts {
            last_change,
            expires_at,
            enabled,
            active: true,
            last_used: None,
            damaged_at: None,
            departed_at: None,
        }
    }

    fn kinds(policy: RotationPolicy, facts: KeyFacts) -> Vec<(ConditionKind, i64)> {
        conditions(&policy, &facts, NOW)
            .into_iter()
            .map(|c| (c.kind, c.deadline.at))
            .collect()
    }

    #[test]
    fn each_condition_is_found_with_the_date_it_refers_to() {
        let policy = RotationPolicy {
            max_age_days: Some(30),
            warning_days: Some(7),
        };
        let created = NOW - 31 * DAY;
        assert_eq!(
            kinds(policy, facts(created, None, true)),
            [(ConditionKind::Overdue, created + 30 * DAY)]
        );
        let created = NOW - 25 * DAY;
        assert_eq!(
            kinds(policy, facts(created, Some(NOW + 2 * DAY), true)),
            [
                (ConditionKind::RotationDueSoon, created + 30 * DAY),
                (ConditionKind::ExpiringSoon, NOW + 2 * DAY)
            ]
        );
        assert_eq!(
            kinds(policy, facts(NOW, Some(NOW - 1), true)),
            [(ConditionKind::Expired, NOW - 1)]
        );
        assert_eq!(kinds(policy, facts(NOW, Some(NOW + 8 * DAY), true)), []);
        assert_eq!(
            kinds(policy, facts(NOW - 40 * DAY, Some(NOW - 1), false)),
            [],
            "a disabled key is reminded of nothing"
        );
        // A rotation moves the due date: the same kind at another date is another condition.
        let rotated = NOW - 35 * DAY + 3 * DAY;
        assert_eq!(
            kinds(policy, facts(rotated, None, true)),
            [(ConditionKind::Overdue, rotated + 30 * DAY)]
        );
        for kind in ConditionKind::ALL {
            assert_eq!(ConditionKind::parse(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn the_message_names_the_key_the_date_and_the_way_to_it() {
        let policy = RotationPolicy {
            max_age_days: Some(90),
            warning_days: None,
        };
        let condition = conditions(&policy, &facts(NOW - 102 * DAY - 60, None, true), NOW)[0];
        let about = About {
            project_name: "Team",
            service_name: "Object storage",
            key_name: "deploy",
            owner_name: "Bob",
            link: "https://keys.example.org/projects/team/credentials?service=s1",
        };
        let (subject, text) = message(&about, &condition);
        assert_eq!(
            subject,
            "Keyport: key deploy of Object storage in Team overdue by 12 days"
        );
        assert!(text.contains("\"deploy\" (held by Bob)"), "{text}");
        assert!(text.contains(&time::day(condition.deadline.at)), "{text}");
        assert!(text.contains(about.link), "{text}");
    }

    #[test]
    fn the_signature_is_an_hmac_of_the_timestamp_and_the_body() {
        // Computed apart from this code: Python's hmac over b'1700000000.{"text":"hi"}'.
        assert_eq!(
            signature(b"Jefe", 1_700_000_000, b"{\"text\":\"hi\"}"),
            "t=1700000000,v1=78c16fb1347cc108e4fe45972cb2c71d070d22cb5c714af583367a3b7d491ce5"
        );
        assert_ne!(
            signature(b"other", 1_700_000_000, b"{\"text\":\"hi\"}"),
            signature(b"Jefe", 1_700_000_000, b"{\"text\":\"hi\"}")
        );
    }

    #[test]
    fn retries_wait_longer_after_each_failure_up_to_six_hours() {
        assert_eq!(retry_delay(1), Duration::from_secs(60));
        assert_eq!(retry_delay(2), Duration::from_secs(120));
        assert_eq!(retry_delay(5), Duration::from_secs(960));
        assert_eq!(retry_delay(30), Duration::from_secs(6 * 3600));
        assert_eq!(retry_delay(0), Duration::from_secs(60));
    }
}
