//! A project's credentials: what a principal may see of them, and each thing done to one.

mod add;
mod delete;
mod edit;
mod list;
mod regenerate;
mod reveal;
mod test;

pub use add::{AddCredential, Added, KeySource, OwnerChoice, add};
pub(crate) use add::{NewKey, add_at_backend};
pub(crate) use delete::forget_deleted;
pub use delete::{Deleted, delete};
pub(crate) use delete::{delete_departed, delete_scheduled};
pub use edit::{Edit, edit, edit_form};
pub(crate) use list::visible_to;
pub use list::{Listed, Listing, confirm, list, page};
pub(crate) use regenerate::rotated;
pub use regenerate::{Regenerated, regenerate, regenerate_with};
pub use reveal::{Purpose, Revealed, configure, reveal};
pub use test::{Tested, test};

use super::{FieldErrors, OpError, Ops, Principal};
use crate::{
    db::{
        self,
        credentials::{Credential, Owner},
        services::Service,
    },
    domain::{
        roles::{Action, CredentialAction, Whose},
        validate,
    },
};

/// The credential `id` of the principal's project with its service, if the principal may do
/// `action` to it. A member asking for another member's key gets `NotFound`: members do not
/// learn which keys others hold.
pub(crate) async fn managed(
    ops: &Ops,
    who: &Principal,
    id: &str,
    action: CredentialAction,
) -> Result<(Credential, Service), OpError> {
    let credential = db::credentials::find(&ops.db, &who.project().id, id)
        .await?
        .ok_or(OpError::NotFound)?;
    let whose = who.whose(&credential.owner);
    if !who.may(Action::Credential(action, whose)) {
        let hidden = whose == Whose::Others
            && matches!(credential.owner, Owner::User(_))
            && who.may(Action::Credential(action, Whose::Own));
        return Err(if hidden {
            OpError::NotFound
        } else {
            OpError::Forbidden("Your role does not allow this on this credential.")
        });
    }
    let service = db::services::find(&ops.db, &who.project().id, &credential.service_id)
        .await?
        .ok_or(OpError::NotFound)?;
    Ok((credential, service))
}

/// What a credential's name field asks for.
const NAME_HINT: &str = "Name the credential, e.g. backup job.";

/// A name (with the hint shown when it is missing or wrong), description and expiry as typed,
/// checked; problems go to `errors`. For credentials and for API keys.
pub(crate) fn check_details(
    errors: &mut FieldErrors,
    (name, name_hint): (&str, &'static str),
    description: &str,
    expires: &str,
) -> (String, String, Option<i64>) {
    let name = errors.check("name", validate::label(name, name_hint));
    let description = errors.check("description", validate::description(description));
    let expires_at = parse_expiry(expires).unwrap_or_else(|message| {
        errors.add("expires", message);
        None
    });
    (name, description, expires_at)
}

/// Parses an optional `YYYY-MM-DD` expiry date into Unix seconds at midnight UTC.
fn parse_expiry(value: &str) -> Result<Option<i64>, &'static str> {
    crate::domain::time::parse_day(value).map_err(
        |crate::domain::time::NotADay| "Enter a date such as 2027-06-30, or leave it empty.",
    )
}
