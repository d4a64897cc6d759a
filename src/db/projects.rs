//! Projects (a team's workspace) and their members.

use sqlx::FromRow;

use super::{Db, new_id, now, unique_as};
use crate::domain::roles::{Role, may_change_membership};

#[derive(Clone, Debug, FromRow)]
pub struct Project {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub created_at: i64,
    /// Moves on with every change to the project's services, endpoints, apps and credentials
    /// (database triggers): lists read at one version stay true while it is current.
    pub version: i64,
}

#[derive(Clone, Debug)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("a project with this short name already exists")]
    SlugTaken,
    #[error("this user is already a member")]
    AlreadyMember,
    #[error("a project keeps at least one owner")]
    LastOwner,
    #[error("not a member of this project")]
    NotMember,
    #[error("the actor's role does not allow this change")]
    NotAllowed,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn parse_role(value: &str) -> Result<Role, sqlx::Error> {
    Role::parse(value).ok_or_else(|| sqlx::Error::Decode(format!("unknown role {value:?}").into()))
}

/// Creates a project with `owner_id` as its first owner.
pub async fn create(
    db: &Db,
    slug: &str,
    name: &str,
    owner_id: &str,
) -> Result<Project, ProjectError> {
    let project = Project {
        id: new_id(),
        slug: slug.into(),
        name: name.into(),
        created_at: now(),
        version: 0,
    };
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "insert into projects (id, slug, name, created_at, updated_at) values ($1, $2, $3, $4, $4)",
    )
    .bind(&project.id)
    .bind(&project.slug)
    .bind(&project.name)
    .bind(project.created_at)
    .execute(&mut *tx)
    .await
    .map_err(|e| unique_as(e, ProjectError::SlugTaken))?;
    sqlx::query("insert into memberships (project_id, user_id, role, created_at) values ($1, $2, 'owner', $3)")
        .bind(&project.id)
        .bind(owner_id)
        .bind(project.created_at)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(project)
}

/// The projects a user is a member of, with their role.
pub async fn list_for_user(db: &Db, user_id: &str) -> sqlx::Result<Vec<(Project, Role)>> {
    let rows: Vec<(String, String, String, i64, i64, String)> = sqlx::query_as(
        "select p.id, p.slug, p.name, p.created_at, p.version, m.role
         from projects p join memberships m on m.project_id = p.id
         where m.user_id = $1 order by p.name",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|(id, slug, name, created_at, version, role)| {
            Ok((
                Project {
                    id,
                    slug,
                    name,
                    created_at,
                    version,
                },
                parse_role(&role)?,
            ))
        })
        .collect()
}

/// The project named `slug` and the user's role in it, if they are a member.
pub async fn find_for_member(
    db: &Db,
    slug: &str,
    user_id: &str,
) -> sqlx::Result<Option<(Project, Role)>> {
    let row: Option<(String, String, String, i64, i64, String)> = sqlx::query_as(
        "select p.id, p.slug, p.name, p.created_at, p.version, m.role
         from projects p join memberships m on m.project_id = p.id
         where p.slug = $1 and m.user_id = $2",
    )
    .bind(slug)
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|(id, slug, name, created_at, version, role)| {
        Ok((
            Project {
                id,
                slug,
                name,
                created_at,
                version,
            },
            parse_role(&role)?,
        ))
    })
    .transpose()
}

/// The columns of a project and of a member's role in it, read beside something else (for a page,
/// the signed-in user) by joining `projects p` and `memberships m`; NULL when the user is not a
/// member of it.
pub(super) const MEMBERSHIP_COLUMNS_OF_P_M: &str = "p.id as project_id, p.slug as project_slug, \
     p.name as project_name, p.created_at as project_created_at, p.version as project_version, \
     m.role as role";

#[derive(FromRow)]
pub(super) struct MembershipRow {
    project_id: Option<String>,
    project_slug: Option<String>,
    project_name: Option<String>,
    project_created_at: Option<i64>,
    project_version: Option<i64>,
    role: Option<String>,
}

impl MembershipRow {
    pub(super) fn into_membership(self) -> sqlx::Result<Option<(Project, Role)>> {
        let (Some(id), Some(slug), Some(name), Some(created_at), Some(version), Some(role)) = (
            self.project_id,
            self.project_slug,
            self.project_name,
            self.project_created_at,
            self.project_version,
            self.role,
        ) else {
            return Ok(None);
        };
        let project = Project {
            id,
            slug,
            name,
            created_at,
            version,
        };
        Ok(Some((project, parse_role(&role)?)))
    }
}

pub async fn members(db: &Db, project_id: &str) -> sqlx::Result<Vec<Member>> {
    let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
        "select u.id, u.email, u.name, m.role, u.disabled
         from memberships m join users u on u.id = m.user_id
         where m.project_id = $1 order by u.name, u.email",
    )
    .bind(project_id)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|(user_id, email, name, role, disabled)| {
            Ok(Member {
                user_id,
                email,
                name,
                role: parse_role(&role)?,
                disabled: disabled != 0,
            })
        })
        .collect()
}

pub async fn member_role(db: &Db, project_id: &str, user_id: &str) -> sqlx::Result<Option<Role>> {
    let role: Option<String> =
        sqlx::query_scalar("select role from memberships where project_id = $1 and user_id = $2")
            .bind(project_id)
            .bind(user_id)
            .fetch_optional(db.pool())
            .await?;
    role.as_deref().map(parse_role).transpose()
}

pub async fn add_member(
    db: &Db,
    project_id: &str,
    user_id: &str,
    role: Role,
) -> Result<(), ProjectError> {
    sqlx::query(
        "insert into memberships (project_id, user_id, role, created_at) values ($1, $2, $3, $4)",
    )
    .bind(project_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(now())
    .execute(db.pool())
    .await
    .map_err(|e| unique_as(e, ProjectError::AlreadyMember))?;
    Ok(())
}

/// Sets a member's role (`Some`) or removes them (`None`), refusing to leave the project without
/// an owner. The project row is written first so that concurrent changes to the same project
/// run one after the other on both databases, and the owner count is then exact.
pub async fn change_member(
    db: &Db,
    project_id: &str,
    actor_id: &str,
    user_id: &str,
    role: Option<Role>,
) -> Result<(), ProjectError> {
    let mut tx = db.pool().begin().await?;
    lock(&mut tx, project_id).await?;
    // Both roles are read under the project's lock, so a concurrent change cannot slip between
    // the check and the write.
    let actor = role_of(&mut tx, project_id, actor_id)
        .await?
        .ok_or(ProjectError::NotAllowed)?;
    let from = role_of(&mut tx, project_id, user_id)
        .await?
        .ok_or(ProjectError::NotMember)?;
    if !may_change_membership(actor, Some(from), role) {
        return Err(ProjectError::NotAllowed);
    }
    if write_role(&mut tx, project_id, user_id, role).await? == 0 {
        return Err(ProjectError::NotMember);
    }
    if !has_owner(&mut tx, project_id).await? {
        return Err(ProjectError::LastOwner);
    }
    tx.commit().await?;
    Ok(())
}

/// Writes the project's row first in a transaction, so that concurrent changes to the same
/// project run one after the other on both databases and counts read afterwards are exact.
pub async fn lock(tx: &mut sqlx::AnyConnection, project_id: &str) -> sqlx::Result<()> {
    sqlx::query("update projects set updated_at = $1 where id = $2")
        .bind(now())
        .bind(project_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// A member's role, read in the caller's transaction (under the project's [`lock`]).
pub(super) async fn role_of(
    tx: &mut sqlx::AnyConnection,
    project_id: &str,
    user_id: &str,
) -> sqlx::Result<Option<Role>> {
    let role: Option<String> =
        sqlx::query_scalar("select role from memberships where project_id = $1 and user_id = $2")
            .bind(project_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    role.as_deref().map(parse_role).transpose()
}

/// Gives a member another role, or removes them (`None`); the number of rows changed.
pub(super) async fn write_role(
    tx: &mut sqlx::AnyConnection,
    project_id: &str,
    user_id: &str,
    role: Option<Role>,
) -> sqlx::Result<u64> {
    let done = match role {
        Some(role) => {
            sqlx::query("update memberships set role = $1 where project_id = $2 and user_id = $3")
                .bind(role.as_str())
                .bind(project_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
        }
        None => {
            sqlx::query("delete from memberships where project_id = $1 and user_id = $2")
                .bind(project_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
        }
    };
    Ok(done.rows_affected())
}

/// Whether the project still has an owner: a change that leaves none is rolled back.
pub(super) async fn has_owner(
    tx: &mut sqlx::AnyConnection,
    project_id: &str,
) -> sqlx::Result<bool> {
    let owners: i64 = sqlx::query_scalar(
        "select count(*) from memberships where project_id = $1 and role = 'owner'",
    )
    .bind(project_id)
    .fetch_one(&mut *tx)
    .await?;
    Ok(owners > 0)
}

/// A project by its id.
pub async fn find(db: &Db, id: &str) -> sqlx::Result<Option<Project>> {
    let row: Option<(String, String, String, i64, i64)> =
        sqlx::query_as("select id, slug, name, created_at, version from projects where id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|(id, slug, name, created_at, version)| Project {
        id,
        slug,
        name,
        created_at,
        version,
    }))
}
