//! Command-line work that goes through the operations as the pages do: `keyport api-key create`
//! and `keyport token-key rotate`.

use anyhow::{Context, bail};

use crate::{
    config::DataSettings,
    db::{self, Db},
    ops::{
        self, OpError, Ops,
        api_keys::{Created, NewKey},
    },
};

/// The portal's operations over the configured database and master key.
pub async fn open(data: &DataSettings) -> anyhow::Result<Ops> {
    let db = Db::connect(&data.database.url).await?;
    db.migrate().await?;
    let (master, _) = db::keys::open_master_key(&data.master_key, &db).await?;
    // No public URL: it names the issuer of access tokens, and no command issues one.
    Ok(Ops::new(db, std::sync::Arc::new(master), String::new()))
}

pub fn explain(error: OpError) -> anyhow::Error {
    match error {
        OpError::Internal(e) => e,
        e => anyhow::anyhow!(e.message()),
    }
}

/// What `api-key create` is asked for.
pub struct ApiKeyRequest<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub expires: &'a str,
    /// With `app`: the key is that app's, made by `email` (an admin or owner of the project).
    pub project: Option<&'a str>,
    pub app: Option<&'a str>,
}

/// Makes an API key and returns it (the only time it is shown).
pub async fn create_api_key(
    data: &DataSettings,
    request: ApiKeyRequest<'_>,
) -> anyhow::Result<Created> {
    let ops = open(data).await?;
    let user = ops::accounts::find_by_email(&ops, request.email)
        .await
        .map_err(explain)?
        .with_context(|| format!("no user has the email {}", request.email))?;
    if user.disabled {
        bail!("{} is disabled", user.email);
    }
    let actor = ops::principal::command_line_actor(&user);
    let input = NewKey {
        name: request.name.to_string(),
        description: request.description.to_string(),
        expires: request.expires.to_string(),
    };
    let created = match (request.project, request.app) {
        (None, None) => {
            let freshness = ops::step_up::Freshness::CommandLine;
            ops::api_keys::create_personal(&ops, &user, &actor, &freshness, &input).await
        }
        (Some(slug), Some(app_name)) => {
            let who = ops::principal::from_command_line(&ops, &user, slug)
                .await
                .map_err(explain)?
                .with_context(|| format!("{} is not a member of a project {slug}", user.email))?;
            let app = ops::apps::find_by_name(&ops, &who, app_name)
                .await
                .map_err(explain)?
                .with_context(|| format!("the project {slug} has no app {app_name}"))?;
            ops::api_keys::create_for_app(&ops, &who, &app.id, &input).await
        }
        _ => bail!("--project and --app go together"),
    };
    let created = created.map_err(explain)?;
    ops.close().await;
    Ok(created)
}

/// Makes a new key to sign access tokens; returns its kid.
pub async fn rotate_token_key(data: &DataSettings) -> anyhow::Result<String> {
    let ops = open(data).await?;
    let kid = ops::tokens::rotate_signing_key(&ops)
        .await
        .map_err(explain)?;
    ops.close().await;
    Ok(kid)
}
