//! Projects, a team's workspace: the projects a user is in, creating one (instance admins), and
//! what a project's own page shows.

use super::{FieldErrors, OpError, Ops, Principal};
use crate::{
    db::{
        self,
        audit::Actor,
        projects::{Project, ProjectError},
        users::User,
    },
    domain::{
        audit::AuditAction,
        roles::{Action, InstanceAction, Role},
        validate,
    },
};

/// The projects `user` is a member of, with their role in each.
pub async fn list(ops: &Ops, user: &User) -> Result<Vec<(Project, Role)>, OpError> {
    Ok(db::projects::list_for_user(&ops.db, &user.id).await?)
}

/// What the create-project form asks for. An empty slug is made from the name; an empty owner
/// email makes the creator the first owner.
pub struct NewProject<'a> {
    pub name: &'a str,
    pub slug: &'a str,
    pub owner_email: &'a str,
}

/// A project just created.
pub struct Created {
    pub project: Project,
    /// Whether the creator is its first owner, and so may open it.
    pub creator_is_owner: bool,
}

/// Creates a project with its first owner; for instance admins. Audited in the new project's
/// log, in `actor`'s name.
pub async fn create(
    ops: &Ops,
    user: &User,
    actor: &Actor,
    new: NewProject<'_>,
) -> Result<Created, OpError> {
    super::principal::require_instance(user, InstanceAction::CreateProject)?;
    let mut errors = FieldErrors::default();
    let name = errors.check("name", validate::project_name(new.name));
    let slug = match new.slug.trim() {
        "" => validate::slug_from_name(new.name),
        typed => typed.to_string(),
    };
    let slug = errors.check("slug", validate::slug(&slug));
    let owner = if new.owner_email.trim().is_empty() {
        Some(user.clone())
    } else {
        match validate::email(new.owner_email) {
            Ok(email) => {
                let found = db::users::find_by_email(&ops.db, &email).await?;
                if found.is_none() {
                    errors.add(
                        "owner_email",
                        "No user has this email. Create the user first.",
                    );
                }
                found
            }
            Err(message) => {
                errors.add("owner_email", message);
                None
            }
        }
    };
    let (Some(owner), true) = (owner, errors.is_empty()) else {
        return Err(OpError::Invalid(errors));
    };
    let project = match db::projects::create(&ops.db, &slug, &name, &owner.id).await {
        Ok(project) => project,
        Err(ProjectError::SlugTaken) => {
            return Err(OpError::field(
                "slug",
                "A project with this short name already exists.",
            ));
        }
        Err(e) => return Err(unexpected(e)),
    };
    tracing::info!(by = %user.id, project = %project.id, "project created");
    let detail = format!("owner {}", owner.email);
    db::audit::record(
        &ops.db,
        Some(&project.id),
        actor,
        AuditAction::ProjectCreate,
        &project.slug,
        &detail,
    )
    .await?;
    Ok(Created {
        project,
        creator_is_owner: owner.id == user.id,
    })
}

/// What a project's own page shows besides the project and the principal's role.
pub struct Overview {
    pub member_count: usize,
    /// Whether the principal may read the project's audit log.
    pub may_view_audit: bool,
}

pub async fn overview(ops: &Ops, who: &Principal) -> Result<Overview, OpError> {
    who.require(Action::ViewProject)?;
    let members = db::projects::members(&ops.db, &who.project().id).await?;
    Ok(Overview {
        member_count: members.len(),
        may_view_audit: who.may(Action::ViewAudit),
    })
}

/// A project error that no caller answers in its own words.
pub(super) fn unexpected(e: ProjectError) -> OpError {
    match e {
        ProjectError::Database(e) => e.into(),
        other => OpError::Internal(other.into()),
    }
}
