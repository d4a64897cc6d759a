//! The confirmation page of a destructive action, for browsers without JavaScript (the page's
//! script shows the same text in a dialog).

use askama::Template;
use askama_web::WebTemplate;

use super::view::Ctx;
use crate::ops::departures::Revoke;

#[derive(Template, WebTemplate)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub ctx: Ctx,
    pub title: String,
    pub message: String,
    pub action: String,
    pub button: &'static str,
    pub back: String,
    /// A safer way to the same end, as (label, link): "Add a second key first".
    pub alternative: Option<(&'static str, String)>,
    /// What the form posts again besides `confirm=yes` (which key, which credential).
    pub fields: Vec<(&'static str, String)>,
}

/// The `confirm` field of a destructive form. The page's script asks first and then sends
/// `confirm=yes`; a browser without JavaScript sends nothing, and is shown a confirmation page.
#[derive(serde::Deserialize, Default)]
pub struct Confirmation {
    #[serde(default)]
    confirm: String,
}

impl Confirmation {
    pub fn given(&self) -> bool {
        self.confirm == "yes"
    }
}

/// The confirmation of a departure (a member removed, a user disabled), with what becomes of
/// their own keys at the backends; shown again as typed when the grace period is wrong.
#[derive(serde::Deserialize, Clone)]
pub struct DepartureForm {
    #[serde(default)]
    confirm: String,
    /// `now`, `later` (after `days`), or `leave`.
    #[serde(default)]
    pub revoke: String,
    #[serde(default)]
    pub days: String,
}

impl DepartureForm {
    /// What the confirmation page starts with: `revoke`, and seven days if later is chosen.
    pub fn offer(revoke: &str) -> DepartureForm {
        DepartureForm {
            confirm: String::new(),
            revoke: revoke.into(),
            days: "7".into(),
        }
    }

    pub fn given(&self) -> bool {
        self.confirm == "yes"
    }

    /// The choice, or what is wrong with the grace period.
    pub fn revoke(&self) -> Result<Revoke, &'static str> {
        Revoke::from_form(&self.revoke, &self.days)
            .ok_or("The grace period is a whole number of days from 1 to 90.")
    }
}
