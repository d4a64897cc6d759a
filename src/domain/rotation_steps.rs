//! The steps of a guided rotation, and how long the old key must be quiet before it is
//! deactivated.

use std::fmt;

/// Where a guided rotation is: at rest between steps, or in a step under way (its intent is
/// written before the backend is called; reconcile finishes or undoes a step left that way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotationStep {
    /// Step 1 under way: the second key is being created.
    Creating,
    /// At rest after step 1: both keys work (step 2, the wait).
    BothActive,
    /// Step 3 under way: the old key is being deactivated.
    Deactivating,
    /// At rest after step 3: the old key is deactivated, the new one works.
    OldInactive,
    /// The old key is being enabled again (back to `BothActive`).
    Reactivating,
    /// Step 4 under way: the old key is being deleted.
    Deleting,
    /// The rotation is being abandoned: the old key back as it was, the second key deleted.
    Abandoning,
}

impl RotationStep {
    pub const ALL: [RotationStep; 7] = [
        RotationStep::Creating,
        RotationStep::BothActive,
        RotationStep::Deactivating,
        RotationStep::OldInactive,
        RotationStep::Reactivating,
        RotationStep::Deleting,
        RotationStep::Abandoning,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RotationStep::Creating => "creating",
            RotationStep::BothActive => "both_active",
            RotationStep::Deactivating => "deactivating",
            RotationStep::OldInactive => "old_inactive",
            RotationStep::Reactivating => "reactivating",
            RotationStep::Deleting => "deleting",
            RotationStep::Abandoning => "abandoning",
        }
    }

    pub fn parse(value: &str) -> Option<RotationStep> {
        RotationStep::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Whether the rotation rests between steps (nothing is under way).
    pub fn is_resting(self) -> bool {
        matches!(self, RotationStep::BothActive | RotationStep::OldInactive)
    }

    /// The number of the step the rotation is at, as the pages count them (1 to 4).
    pub fn number(self) -> u8 {
        match self {
            RotationStep::Creating => 1,
            RotationStep::BothActive | RotationStep::Reactivating => 2,
            RotationStep::Deactivating => 3,
            RotationStep::OldInactive | RotationStep::Deleting => 4,
            RotationStep::Abandoning => 0,
        }
    }

    /// In words, for the pages and the health page's column.
    pub fn words(self) -> &'static str {
        match self {
            RotationStep::Creating => "step 1: creating the second key",
            RotationStep::BothActive => "step 2: both keys work",
            RotationStep::Deactivating => "step 3: deactivating the old key",
            RotationStep::OldInactive => "step 4: old key deactivated",
            RotationStep::Reactivating => "step 2: enabling the old key again",
            RotationStep::Deleting => "step 4: deleting the old key",
            RotationStep::Abandoning => "abandoning",
        }
    }
}

impl fmt::Display for RotationStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The quiet periods the pages offer, in seconds, with their names.
pub const QUIET_CHOICES: [(i64, &str); 3] =
    [(3600, "1 hour"), (86_400, "1 day"), (604_800, "7 days")];

/// The shortest and longest quiet period (the database checks the same bounds).
pub const QUIET_MIN: i64 = 60;
pub const QUIET_MAX: i64 = 366 * 86_400;

/// A quiet period as typed: `1h`, `1d`, `7d`, `90m`, `3600` (seconds), or a number of hours with
/// `hours`. Refused outside 1 minute to 366 days.
pub fn parse_quiet(value: &str) -> Result<i64, &'static str> {
    const HINT: &str = "Enter a quiet period such as 1h, 1d or 7d (between 1 minute and 366 days).";
    let value = value.trim().to_ascii_lowercase();
    let (number, unit) = match value.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => value.split_at(at),
        None => (value.as_str(), "s"),
    };
    let unit = match unit.trim() {
        "s" | "sec" | "seconds" => 1,
        "m" | "min" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => return Err(HINT),
    };
    let number: i64 = number.parse().map_err(|_| HINT)?;
    let seconds = number.checked_mul(unit).ok_or(HINT)?;
    if (QUIET_MIN..=QUIET_MAX).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(HINT)
    }
}

/// A quiet period in words: "1 day", "36 hours", "90 minutes".
pub fn quiet_words(seconds: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if seconds % 86_400 == 0 {
        plural(seconds / 86_400, "day")
    } else if seconds % 3600 == 0 {
        plural(seconds / 3600, "hour")
    } else if seconds % 60 == 0 {
        plural(seconds / 60, "minute")
    } else {
        plural(seconds, "second")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_trip() {
        for step in RotationStep::ALL {
            assert_eq!(RotationStep::parse(step.as_str()), Some(step));
        }
        assert_eq!(RotationStep::parse("done"), None);
    }

    #[test]
    fn quiet_periods_parse_and_read_back() {
        assert_eq!(parse_quiet("1h"), Ok(3600));
        assert_eq!(parse_quiet(" 7d "), Ok(604_800));
        assert_eq!(parse_quiet("90 minutes"), Ok(5400));
        assert_eq!(parse_quiet("86400"), Ok(86_400));
        assert!(parse_quiet("").is_err());
        assert!(parse_quiet("10s").is_err(), "under a minute");
        assert!(parse_quiet("400d").is_err(), "over 366 days");
        assert!(parse_quiet("1w").is_err());
        assert!(parse_quiet("99999999999999999999d").is_err());
        assert_eq!(quiet_words(86_400), "1 day");
        assert_eq!(quiet_words(7 * 3600), "7 hours");
        assert_eq!(quiet_words(5400), "90 minutes");
    }
}
