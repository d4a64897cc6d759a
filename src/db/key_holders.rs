//! An API key with everything one request needs to trust it, read in one query: the key, its
//! holder (the member, or the app with its project), and either the kid that signs now (an
//! exchange) or the holder's standing in the project the request names (an API request). Every
//! process reads them from the database each time, so a key disabled, a member removed or a user
//! disabled in one process is refused by all of them at the next request.

use std::sync::LazyLock;

use sqlx::{FromRow, any::AnyRow};

use super::{
    Db,
    api_keys::{self, ApiKey},
    apps::App,
    projects::Project,
    users::User,
};
use crate::domain::roles::Role;

/// Who holds a key, if they still may use it: an enabled user, or an app whose project exists.
#[derive(Clone, Debug)]
pub enum KeyHolder {
    Member(User),
    App { app: App, project: Project },
}

/// A key and its holder; `holder` is `None` when the member is disabled or gone, or the app is.
pub struct HeldKey {
    pub key: ApiKey,
    pub holder: Option<KeyHolder>,
}

/// What an exchange needs: the key by its hash (or id, for a refresh), and the kid of the key
/// that signs now, if one was made yet.
pub struct ForExchange {
    pub held: HeldKey,
    pub signing_kid: Option<String>,
}

/// What an API request needs: the key its token names, and the holder's project and role there
/// when the request names a project and the holder (a member) belongs to it. An app's project is
/// its holder's.
pub struct ForRequest {
    pub held: HeldKey,
    pub membership: Option<(Project, Role)>,
}

/// How an exchange names its key.
pub enum KeyBy<'a> {
    /// The `apikey` grant: the SHA-256 of the key presented.
    Hash(&'a str),
    /// The `refresh_token` grant: the key id the token carries.
    Id(&'a str),
}

const KEY_AND_HOLDER: &str = "k.id, k.prefix, k.user_id, k.app_id, k.project_id, k.name,
    k.description, k.created_at, k.created_by, k.expires_at, k.last_used_at, k.last_used_ip,
    k.enabled, k.generation,
    u.id as u_id, u.email as u_email, u.name as u_name, u.password_hash as u_password_hash,
    u.is_admin as u_is_admin, u.disabled as u_disabled, u.session_epoch as u_session_epoch,
    u.created_at as u_created_at,
    a.name as a_name, a.description as a_description, a.created_at as a_created_at,
    a.role as a_role,
    pa.slug as pa_slug, pa.name as pa_name, pa.created_at as pa_created_at,
    pa.version as pa_version";

const FROM_KEY: &str = "from api_keys k
    left join users u on u.id = k.user_id
    left join apps a on a.id = k.app_id and a.project_id = k.project_id
    left join projects pa on pa.id = k.project_id";

const SIGNING_KID: &str = "(select kid from signing_keys where retired_at is null
    order by created_at desc, kid limit 1) as signing_kid";

/// The key presented to an exchange, with its holder and the kid that signs now.
pub async fn for_exchange(db: &Db, by: KeyBy<'_>) -> sqlx::Result<Option<ForExchange>> {
    static BY_HASH: LazyLock<String> = LazyLock::new(|| {
        format!("select {KEY_AND_HOLDER}, {SIGNING_KID} {FROM_KEY} where k.key_hash = $1")
    });
    static BY_ID: LazyLock<String> = LazyLock::new(|| {
        format!("select {KEY_AND_HOLDER}, {SIGNING_KID} {FROM_KEY} where k.id = $1")
    });
    let (query, value) = match by {
        KeyBy::Hash(hash) => (&*BY_HASH, hash),
        KeyBy::Id(id) => (&*BY_ID, id),
    };
    let mut connection = db.page_connection().await?;
    let row: Option<AnyRow> = sqlx::query(query)
        .bind(value)
        .fetch_optional(connection.get())
        .await?;
    connection.done();
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(ForExchange {
        held: held(&row)?,
        signing_kid: sqlx::Row::try_get(&row, "signing_kid")?,
    }))
}

/// The key `id` an access token names, with its holder and, for a member, their project `slug`
/// and role there.
pub async fn for_request(
    db: &Db,
    id: &str,
    slug: Option<&str>,
) -> sqlx::Result<Option<ForRequest>> {
    static QUERY: LazyLock<String> = LazyLock::new(|| {
        format!(
            "select {KEY_AND_HOLDER},
                 p.id as m_project_id, p.slug as m_slug, p.name as m_name,
                 p.created_at as m_created_at, p.version as m_version, m.role as m_role
             {FROM_KEY}
             left join projects p on p.slug = $2
             left join memberships m on m.project_id = p.id and m.user_id = u.id
             where k.id = $1"
        )
    });
    let mut connection = db.page_connection().await?;
    let row: Option<AnyRow> = sqlx::query(&QUERY)
        .bind(id)
        .bind(slug)
        .fetch_optional(connection.get())
        .await?;
    connection.done();
    let Some(row) = row else {
        return Ok(None);
    };
    let membership = MembershipRow::from_row(&row)?;
    let membership = match (membership.m_project_id, membership.m_role) {
        (Some(id), Some(role)) => Some((
            Project {
                id,
                slug: membership.m_slug.unwrap_or_default(),
                name: membership.m_name.unwrap_or_default(),
                created_at: membership.m_created_at.unwrap_or_default(),
                version: membership.m_version.unwrap_or_default(),
            },
            Role::try_from(role).map_err(|e| sqlx::Error::Decode(e.into()))?,
        )),
        _ => None,
    };
    Ok(Some(ForRequest {
        held: held(&row)?,
        membership,
    }))
}

#[derive(FromRow)]
struct HolderRow {
    u_id: Option<String>,
    u_email: Option<String>,
    u_name: Option<String>,
    u_password_hash: Option<String>,
    u_is_admin: Option<i64>,
    u_disabled: Option<i64>,
    u_session_epoch: Option<i64>,
    u_created_at: Option<i64>,
    a_name: Option<String>,
    a_description: Option<String>,
    a_created_at: Option<i64>,
    a_role: Option<String>,
    pa_slug: Option<String>,
    pa_name: Option<String>,
    pa_created_at: Option<i64>,
    pa_version: Option<i64>,
}

#[derive(FromRow)]
struct MembershipRow {
    m_project_id: Option<String>,
    m_slug: Option<String>,
    m_name: Option<String>,
    m_created_at: Option<i64>,
    m_version: Option<i64>,
    m_role: Option<String>,
}

fn held(row: &AnyRow) -> sqlx::Result<HeldKey> {
    let key = ApiKey::from(api_keys::Row::from_row(row)?);
    let h = HolderRow::from_row(row)?;
    let holder = match &key.holder {
        api_keys::Holder::User(_) => match (h.u_id, h.u_email, h.u_disabled) {
            (Some(id), Some(email), Some(0)) => Some(KeyHolder::Member(User {
                id,
                email,
                name: h.u_name.unwrap_or_default(),
                is_admin: h.u_is_admin.unwrap_or_default() != 0,
                disabled: false,
                has_password: h.u_password_hash.is_some(),
                session_epoch: h.u_session_epoch.unwrap_or_default(),
                created_at: h.u_created_at.unwrap_or_default(),
            })),
            _ => None,
        },
        api_keys::Holder::App { app_id, project_id } => match (h.a_name, h.a_role, h.pa_slug) {
            (Some(name), Some(role), Some(slug)) => Some(KeyHolder::App {
                app: App {
                    id: app_id.clone(),
                    project_id: project_id.clone(),
                    name,
                    description: h.a_description.unwrap_or_default(),
                    created_at: h.a_created_at.unwrap_or_default(),
                    role: Role::try_from(role).map_err(|e| sqlx::Error::Decode(e.into()))?,
                },
                project: Project {
                    id: project_id.clone(),
                    slug,
                    name: h.pa_name.unwrap_or_default(),
                    created_at: h.pa_created_at.unwrap_or_default(),
                    version: h.pa_version.unwrap_or_default(),
                },
            }),
            _ => None,
        },
    };
    Ok(HeldKey { key, holder })
}
