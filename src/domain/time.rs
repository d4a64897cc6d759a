//! Time as the portal keeps it: Unix seconds in UTC, read from and written as calendar days.

/// Seconds since the Unix epoch: the unit of every timestamp.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// What was typed is no day of the form `YYYY-MM-DD`.
#[derive(Debug, PartialEq, Eq)]
pub struct NotADay;

/// Midnight UTC of the day `value` names (`YYYY-MM-DD`, blanks around it allowed), in Unix
/// seconds; `Ok(None)` when `value` is empty.
pub fn parse_day(value: &str) -> Result<Option<i64>, NotADay> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, format)
        .map(|day| Some(day.midnight().assume_utc().unix_timestamp()))
        .map_err(|_| NotADay)
}

/// The UTC day of Unix seconds `at`, as `parse_day` reads it (`YYYY-MM-DD`); empty when out of
/// range.
pub fn day(at: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

/// Unix seconds as a UTC time of day and date, for notes on a page.
pub fn utc(at: i64) -> String {
    let format =
        time::macros::format_description!("[hour]:[minute]:[second] UTC on [year]-[month]-[day]");
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_to_their_midnight_and_others_are_refused() {
        assert_eq!(parse_day(" 2026-11-30 "), Ok(Some(1_795_996_800)));
        assert_eq!(parse_day(""), Ok(None));
        assert_eq!(parse_day("2026-02-30"), Err(NotADay));
        assert_eq!(parse_day("30.11.2026"), Err(NotADay));
        assert_eq!(utc(1_795_996_805), "00:00:05 UTC on 2026-11-30");
        assert_eq!(day(1_795_996_805), "2026-11-30");
        assert_eq!(parse_day(&day(1_795_996_800)), Ok(Some(1_795_996_800)));
    }
}
