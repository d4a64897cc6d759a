//! What every page shows around its content, and small formatting helpers for templates.

use time::macros::format_description;

use crate::{domain::roles::InstanceAction, ops::User};

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
        self.user
            .as_ref()
            .is_some_and(|u| crate::ops::principal::may_in_instance(u, InstanceAction::ManageUsers))
    }
}

/// Unix seconds shown as a UTC date and time.
pub trait UnixTime {
    /// `2026-11-23 14:05 UTC`.
    fn date(&self) -> Shown;
    /// How long ago, in words: "less than a day", "3 days", "5 months".
    fn age(&self) -> String;
    /// The day only, as a date input wants it: `2026-11-23`.
    fn day(&self) -> Shown;
}

/// A time as a page shows it, written straight into the page: digits, `-`, `:`, spaces and
/// `UTC` need no HTML escaping. A time out of range shows as nothing.
pub struct Shown {
    at: Option<time::OffsetDateTime>,
    with_time: bool,
}

impl Shown {
    fn write(&self, dest: &mut dyn std::fmt::Write) -> std::fmt::Result {
        let Some(at) = self.at else { return Ok(()) };
        let (year, month, day) = at.to_calendar_date();
        let Ok(year @ 0..=9999) = u16::try_from(year) else {
            // Past four digits the `time` crate writes the year its own way.
            let shown = match self.with_time {
                true => at.format(format_description!(
                    "[year]-[month]-[day] [hour]:[minute] UTC"
                )),
                false => at.format(format_description!("[year]-[month]-[day]")),
            };
            return dest.write_str(&shown.map_err(|_| std::fmt::Error)?);
        };
        // Digits put in place rather than through `write!`: a page shows a hundred of these.
        let mut text = *b"0000-00-00 00:00 UTC";
        for (start, value, width) in [
            (0, year, 4),
            (5, u8::from(month).into(), 2),
            (8, day.into(), 2),
            (11, at.hour().into(), 2),
            (14, at.minute().into(), 2),
        ] {
            let mut value = value;
            for digit in text[start..start + width].iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        let shown = if self.with_time {
            &text[..]
        } else {
            &text[..10]
        };
        dest.write_str(std::str::from_utf8(shown).expect("ASCII digits"))
    }
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write(f)
    }
}

/// Written by askama without the formatting machinery.
impl askama::FastWritable for Shown {
    fn write_into(
        &self,
        dest: &mut dyn std::fmt::Write,
        _: &dyn askama::Values,
    ) -> askama::Result<()> {
        Ok(self.write(dest)?)
    }
}

impl askama::filters::HtmlSafe for Shown {}

impl UnixTime for i64 {
    fn date(&self) -> Shown {
        Shown {
            at: time::OffsetDateTime::from_unix_timestamp(*self).ok(),
            with_time: true,
        }
    }

    fn age(&self) -> String {
        let days = (crate::domain::time::now() - self).max(0) / 86_400;
        match days {
            0 => "less than a day".into(),
            1 => "1 day".into(),
            2..=59 => format!("{days} days"),
            60..=729 => format!("{} months", days / 30),
            _ => format!("{} years", days / 365),
        }
    }

    fn day(&self) -> Shown {
        Shown {
            at: time::OffsetDateTime::from_unix_timestamp(*self).ok(),
            with_time: false,
        }
    }
}

/// Text escaped for HTML once, when it is made, and then written into a page as it is: for a
/// value a page repeats (a key's id is in seven of its links and buttons).
pub struct Escaped(String);

impl Escaped {
    pub fn new(text: &str) -> Self {
        // Most such text (ids) has none of the characters escaping replaces: copied as it is.
        if !text
            .bytes()
            .any(|b| matches!(b, b'<' | b'>' | b'&' | b'"' | b'\''))
        {
            return Escaped(text.to_owned());
        }
        let Ok(escaped) = askama::filters::escape(text, askama::filters::Html);
        Escaped(escaped.to_string())
    }
}

impl std::fmt::Display for Escaped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl askama::FastWritable for Escaped {
    fn write_into(
        &self,
        dest: &mut dyn std::fmt::Write,
        _: &dyn askama::Values,
    ) -> askama::Result<()> {
        Ok(dest.write_str(&self.0)?)
    }
}

impl askama::filters::HtmlSafe for Escaped {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_the_time_crate_formats_them() {
        // 2026-11-23 14:05:09 UTC, the first day of the era, a year before 1000, a midnight at
        // the end of a year, and a year before the common era (written by the `time` crate).
        for at in [
            -62_198_755_200,
            1_795_442_709,
            0,
            -31_000_000_000,
            1_798_761_599,
            1_798_761_600,
        ] {
            let t = time::OffsetDateTime::from_unix_timestamp(at).unwrap();
            let day = format_description!("[year]-[month]-[day]");
            let date = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
            assert_eq!(at.day().to_string(), t.format(day).unwrap());
            assert_eq!(at.date().to_string(), t.format(date).unwrap());
        }
        assert_eq!(i64::MAX.day().to_string(), "");
    }

    #[test]
    fn escaped_text_is_escaped_once() {
        let text = Escaped::new(r#"<a href="x">'&'</a>"#);
        assert_eq!(
            text.to_string(),
            "&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;"
        );
    }
}
