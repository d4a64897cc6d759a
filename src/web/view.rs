//! What every page shows around its content, and small formatting helpers for templates.

use crate::db::users::User;

/// The frame of every page: who is signed in, the CSRF token for its forms, a one-time notice.
#[derive(Debug, Default)]
pub struct Ctx {
    pub user: Option<User>,
    pub csrf_token: String,
    pub notice: Option<String>,
}

impl Ctx {
    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.is_admin)
    }
}

/// Unix seconds shown as a UTC date and time.
pub trait UnixTime {
    fn date(&self) -> String;
}

impl UnixTime for i64 {
    fn date(&self) -> String {
        let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
        time::OffsetDateTime::from_unix_timestamp(*self)
            .ok()
            .and_then(|t| t.format(format).ok())
            .unwrap_or_default()
    }
}
