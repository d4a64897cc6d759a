//! A service's rotation policy, a key's own expiry, and how a key stands against both at a
//! moment, in the words the pages use ("rotate in 5 days", "expired 2 days ago").

use std::{fmt, ops::RangeInclusive};

pub const DAY: i64 = 86_400;

/// The maximum age a policy may set, in days (ten years).
pub const MAX_AGE_DAYS: RangeInclusive<i64> = 1..=3650;
/// The warning window a policy may set, in days.
pub const WARNING_DAYS: RangeInclusive<i64> = 1..=365;
/// How many days before its expiry a key is "expiring soon" when its service sets no window.
pub const DEFAULT_WARNING_DAYS: i64 = 14;

/// How old a service's keys may grow, and how long before that (and before a key's expiry)
/// the pages warn. Both optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RotationPolicy {
    pub max_age_days: Option<i64>,
    pub warning_days: Option<i64>,
}

impl RotationPolicy {
    fn warning(&self) -> i64 {
        self.warning_days.unwrap_or(DEFAULT_WARNING_DAYS) * DAY
    }

    /// When a key last changed at `last_change` (its last rotation, or its creation) must be
    /// rotated; `None` without a maximum age.
    pub fn rotation(&self, last_change: i64, now: i64) -> Option<Deadline> {
        let max_age = self.max_age_days?;
        let at = last_change.saturating_add(max_age.saturating_mul(DAY));
        Some(Deadline::new(at, now, self.warning()))
    }

    /// When a key that expires at `expires_at` stops working; `None` for a key without expiry.
    pub fn expiry(&self, expires_at: Option<i64>, now: i64) -> Option<Deadline> {
        expires_at.map(|at| Deadline::new(at, now, self.warning()))
    }

    /// What is wrong with a policy as typed, field by field (empty fields are no policy).
    pub fn check(max_age: &str, warning: &str) -> Result<RotationPolicy, Vec<PolicyError>> {
        let days = |value: &str, range: &RangeInclusive<i64>| match value.trim() {
            "" => Ok(None),
            typed => match typed.parse::<i64>() {
                Ok(n) if range.contains(&n) => Ok(Some(n)),
                _ => Err(()),
            },
        };
        let max_age_days = days(max_age, &MAX_AGE_DAYS);
        let warning_days = days(warning, &WARNING_DAYS);
        let mut errors = Vec::new();
        if max_age_days.is_err() {
            errors.push(PolicyError::MaxAge);
        }
        if warning_days.is_err() {
            errors.push(PolicyError::Warning);
        }
        if let (Ok(Some(max)), Ok(Some(warn))) = (max_age_days, warning_days)
            && warn >= max
        {
            errors.push(PolicyError::WarningTooLong);
        }
        match (max_age_days, warning_days) {
            (Ok(max_age_days), Ok(warning_days)) if errors.is_empty() => Ok(RotationPolicy {
                max_age_days,
                warning_days,
            }),
            _ => Err(errors),
        }
    }
}

/// Why a typed policy was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyError {
    MaxAge,
    Warning,
    WarningTooLong,
}

impl PolicyError {
    /// The form field the error belongs to.
    pub fn field(self) -> &'static str {
        match self {
            PolicyError::MaxAge => "max_key_age_days",
            PolicyError::Warning | PolicyError::WarningTooLong => "rotation_warning_days",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            PolicyError::MaxAge => {
                "Enter a number of days from 1 to 3650, or leave it empty for no maximum age."
            }
            PolicyError::Warning => {
                "Enter a number of days from 1 to 365, or leave it empty for the default of 14."
            }
            PolicyError::WarningTooLong => {
                "The warning must start before the maximum age: enter fewer days than the maximum age."
            }
        }
    }
}

/// A moment a key is due for rotation or stops working, as seen at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    pub at: i64,
    /// Seconds left until `at`; zero or less once it has passed.
    pub left: i64,
    /// The warning window, in seconds.
    warning: i64,
}

impl Deadline {
    fn new(at: i64, now: i64, warning: i64) -> Deadline {
        Deadline {
            at,
            left: at.saturating_sub(now),
            warning,
        }
    }

    pub fn is_past(&self) -> bool {
        self.left <= 0
    }

    /// Not yet past, but within the warning window.
    pub fn is_near(&self) -> bool {
        !self.is_past() && self.left <= self.warning
    }

    /// Whole days to go, a part of a day counted as one (4.2 days left: "in 5 days").
    fn days_to_go(&self) -> i64 {
        (self.left + DAY - 1) / DAY
    }

    /// Whole days since it passed (12.8 days ago: "12 days").
    fn days_past(&self) -> i64 {
        -self.left / DAY
    }

    /// "rotate in 5 days", "overdue by 12 days".
    pub fn rotation_words(self) -> Words {
        Words {
            deadline: self,
            ahead: "rotate in",
            just_past: "overdue since today",
            past: ("overdue by", ""),
        }
    }

    /// "expires in 3 days", "expired 2 days ago".
    pub fn expiry_words(self) -> Words {
        Words {
            deadline: self,
            ahead: "expires in",
            just_past: "expired today",
            past: ("expired", " ago"),
        }
    }
}

/// A deadline in words.
#[derive(Clone, Copy, Debug)]
pub struct Words {
    deadline: Deadline,
    ahead: &'static str,
    just_past: &'static str,
    past: (&'static str, &'static str),
}

fn days(n: i64) -> &'static str {
    if n == 1 { "day" } else { "days" }
}

impl fmt::Display for Words {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.deadline;
        if !d.is_past() {
            let n = d.days_to_go();
            return write!(f, "{} {n} {}", self.ahead, days(n));
        }
        match d.days_past() {
            0 => f.write_str(self.just_past),
            n => write!(f, "{} {n} {}{}", self.past.0, days(n), self.past.1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn policy(max: Option<i64>, warn: Option<i64>) -> RotationPolicy {
        RotationPolicy {
            max_age_days: max,
            warning_days: warn,
        }
    }

    #[test]
    fn a_key_is_due_its_maximum_age_after_its_last_change() {
        let p = policy(Some(90), Some(14));
        let fresh = p.rotation(NOW - 85 * DAY - 60, NOW).unwrap();
        assert_eq!(fresh.rotation_words().to_string(), "rotate in 5 days");
        assert!(fresh.is_near() && !fresh.is_past());
        let calm = p.rotation(NOW - 10 * DAY, NOW).unwrap();
        assert_eq!(calm.rotation_words().to_string(), "rotate in 80 days");
        assert!(!calm.is_near());
        let late = p.rotation(NOW - 102 * DAY - 60, NOW).unwrap();
        assert_eq!(late.rotation_words().to_string(), "overdue by 12 days");
        assert!(late.is_past() && !late.is_near());
        let today = p.rotation(NOW - 90 * DAY - 60, NOW).unwrap();
        assert_eq!(today.rotation_words().to_string(), "overdue since today");
        let tomorrow = p.rotation(NOW - 89 * DAY - 60, NOW).unwrap();
        assert_eq!(tomorrow.rotation_words().to_string(), "rotate in 1 day");
        assert_eq!(policy(None, Some(14)).rotation(NOW, NOW), None);
    }

    #[test]
    fn expiry_is_told_in_days_with_the_window_of_the_policy_or_fourteen_days() {
        let none = RotationPolicy::default();
        let soon = none.expiry(Some(NOW + 3 * DAY), NOW).unwrap();
        assert_eq!(soon.expiry_words().to_string(), "expires in 3 days");
        assert!(soon.is_near());
        assert!(!none.expiry(Some(NOW + 15 * DAY), NOW).unwrap().is_near());
        assert!(
            policy(None, Some(30))
                .expiry(Some(NOW + 15 * DAY), NOW)
                .unwrap()
                .is_near()
        );
        let gone = none.expiry(Some(NOW - DAY), NOW).unwrap();
        assert_eq!(gone.expiry_words().to_string(), "expired 1 day ago");
        let just = none.expiry(Some(NOW - 10), NOW).unwrap();
        assert_eq!(just.expiry_words().to_string(), "expired today");
        assert_eq!(none.expiry(None, NOW), None);
    }

    #[test]
    fn a_typed_policy_is_checked_field_by_field() {
        assert_eq!(
            RotationPolicy::check(" 90 ", "14"),
            Ok(policy(Some(90), Some(14)))
        );
        assert_eq!(RotationPolicy::check("", ""), Ok(policy(None, None)));
        assert_eq!(RotationPolicy::check("", "30"), Ok(policy(None, Some(30))));
        assert_eq!(
            RotationPolicy::check("0", "x"),
            Err(vec![PolicyError::MaxAge, PolicyError::Warning])
        );
        assert_eq!(
            RotationPolicy::check("3651", "366"),
            Err(vec![PolicyError::MaxAge, PolicyError::Warning])
        );
        assert_eq!(
            RotationPolicy::check("30", "30"),
            Err(vec![PolicyError::WarningTooLong])
        );
    }
}
