//! The confirmation page of a destructive action, for browsers without JavaScript (the page's
//! script shows the same text in a dialog).

use askama::Template;
use askama_web::WebTemplate;

use super::view::Ctx;

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
