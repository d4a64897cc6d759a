//! Who presents an access token: the token verified, its key still usable, its holder still
//! there; and what the caller may reach.

use super::{ACCESS_TOKEN_SECONDS, Claims, exchange::subject};
use crate::{
    crypto::jwt,
    db::{
        self,
        api_keys::{ApiKey, Holder},
        projects::Project,
        users::User,
    },
    domain::roles::Role,
    ops::{OpError, Ops},
};

/// Who presents an access token: its key, and the member or app holding it.
#[derive(Clone, Debug)]
pub struct Caller {
    pub key: ApiKey,
    pub holder: CallerHolder,
}

#[derive(Clone, Debug)]
pub enum CallerHolder {
    Member(User),
    App {
        project: Project,
        app: db::apps::App,
    },
}

/// The caller of an access token, if the token is Keyport's, unexpired, and its key is still
/// usable and held by an enabled member or an existing app.
pub async fn authenticate(ops: &Ops, token: &str) -> Result<Option<Caller>, OpError> {
    let Some(kid) = jwt::kid(token) else {
        return Ok(None);
    };
    let Some(public) = ops.verifier(&kid).await? else {
        return Ok(None);
    };
    let lifetime = ACCESS_TOKEN_SECONDS as u64;
    let Some(claims) = jwt::verify::<Claims>(token, &public, &ops.public_url, lifetime) else {
        return Ok(None);
    };
    let Some(key) = db::api_keys::find(&ops.db, &claims.key).await? else {
        return Ok(None);
    };
    if !key.usable(db::now()) || claims.sub != subject(&key) || claims.generation != key.generation
    {
        return Ok(None);
    }
    let holder = match &key.holder {
        Holder::User(id) => match db::users::find(&ops.db, id).await? {
            Some(user) if !user.disabled => CallerHolder::Member(user),
            _ => return Ok(None),
        },
        Holder::App { app_id, project_id } => {
            let project = db::projects::find(&ops.db, project_id).await?;
            let app = db::apps::find(&ops.db, project_id, app_id).await?;
            match project.zip(app) {
                Some((project, app)) => CallerHolder::App { project, app },
                None => return Ok(None),
            }
        }
    };
    Ok(Some(Caller { key, holder }))
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
