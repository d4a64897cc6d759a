//! What every page shows around its content, and small formatting helpers for templates.

use crate::db::users::User;

/// The frame of every page: who is signed in, the CSRF token for its forms, a one-time notice.
#[derive(Debug, Default)]
pub struct Ctx {
    pub user: Option<User>,
    pub csrf_token: String,
    pub notice: Option<String>,
}

/// The first characters of a notice that reports success, a failure or a warning; the page
/// shows such a notice in its own colours (the mark says it in words' stead for those who do
/// not see colours). A notice without a mark is plain news.
pub const OK_MARK: &str = "✓ ";
pub const FAILED_MARK: &str = "✗ ";
pub const WARNING_MARK: &str = "⚠ ";

impl Ctx {
    /// The class of the notice's box: `notice`, `notice ok`, `notice failed` or `notice warning`.
    pub fn notice_class(&self) -> &'static str {
        match self.notice.as_deref() {
            Some(n) if n.starts_with(OK_MARK) => "notice ok",
            Some(n) if n.starts_with(FAILED_MARK) => "notice failed",
            Some(n) if n.starts_with(WARNING_MARK) => "notice warning",
            _ => "notice",
        }
    }

    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.is_admin)
    }
}

/// Unix seconds shown as a UTC date and time.
pub trait UnixTime {
    fn date(&self) -> String;
    /// How long ago, in words: "less than a day", "3 days", "5 months".
    fn age(&self) -> String;
    /// The day only, as a date input wants it: `2026-11-23`.
    fn day(&self) -> String;
}

impl UnixTime for i64 {
    fn date(&self) -> String {
        let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
        time::OffsetDateTime::from_unix_timestamp(*self)
            .ok()
            .and_then(|t| t.format(format).ok())
            .unwrap_or_default()
    }

    fn age(&self) -> String {
        let days = (crate::db::now() - self).max(0) / 86_400;
        match days {
            0 => "less than a day".into(),
            1 => "1 day".into(),
            2..=59 => format!("{days} days"),
            60..=729 => format!("{} months", days / 30),
            _ => format!("{} years", days / 365),
        }
    }

    fn day(&self) -> String {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::OffsetDateTime::from_unix_timestamp(*self)
            .ok()
            .and_then(|t| t.format(format).ok())
            .unwrap_or_default()
    }
}
