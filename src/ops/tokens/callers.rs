//! Who presents an access token: the token verified, its key still usable, its holder still
//! there; and what the caller may reach.

use super::exchange::subject;
use crate::{
    db::{self, api_keys::ApiKey, projects::Project},
    domain::roles::Role,
    ops::{OpError, Ops},
};

/// Who presents an access token: its key, and the member or app holding it.
#[derive(Clone, Debug)]
pub struct Caller {
    pub key: ApiKey,
    pub holder: CallerHolder,
    /// For a member: the project the request named and their role there, if they belong to it.
    membership: Option<(Project, Role)>,
}

/// The member (enabled) or the app (with its project) holding a key.
pub use crate::db::key_holders::KeyHolder as CallerHolder;

impl Caller {
    /// The project `slug` and the member's role there, if the request named it and they
    /// belong to it (read with the key).
    pub(in crate::ops) fn membership_in(&self, slug: &str) -> Option<&(Project, Role)> {
        self.membership
            .as_ref()
            .filter(|(project, _)| project.slug == slug)
    }
}

/// The caller of an access token, if the token is Keyport's, unexpired, and its key is still
/// usable and held by an enabled member or an existing app. With `project`, the member's
/// standing there is read in the same query.
pub async fn authenticate(
    ops: &Ops,
    token: &str,
    project: Option<&str>,
) -> Result<Option<Caller>, OpError> {
    let Some(claims) = ops.verify_access(token).await? else {
        return Ok(None);
    };
    let Some(found) = db::key_holders::for_request(&ops.db, &claims.key, project).await? else {
        return Ok(None);
    };
    let key = found.held.key;
    if !key.usable(db::now()) || claims.sub != subject(&key) || claims.generation != key.generation
    {
        return Ok(None);
    }
    let Some(holder) = found.held.holder else {
        return Ok(None);
    };
    Ok(Some(Caller {
        key,
        holder,
        membership: found.membership,
    }))
}

/// The projects the caller may reach, with its role in each.
pub async fn projects(ops: &Ops, caller: &Caller) -> Result<Vec<(Project, Role)>, OpError> {
    Ok(match &caller.holder {
        CallerHolder::Member(user) => db::projects::list_for_user(&ops.db, &user.id).await?,
        CallerHolder::App { project, app } => vec![(project.clone(), app.role)],
    })
}

/// How the audit log names the caller.
pub fn actor_label(caller: &Caller) -> String {
    match &caller.holder {
        CallerHolder::Member(user) => format!("{} (API key {})", user.email, caller.key.prefix),
        CallerHolder::App { app, .. } => {
            format!("app {} (API key {})", app.name, caller.key.prefix)
        }
    }
}
