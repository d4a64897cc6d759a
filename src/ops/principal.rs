//! Who acts: the one place a [`Principal`] is made, from the evidence each way in brings (a
//! session's membership as the database answered it, an access token's key, the command line).
//! Its fields are private: no other code can make one, or give one a role.

use super::{
    OpError, Ops,
    tokens::{Caller, CallerHolder},
};
use crate::{
    db::{self, apps::App, audit::Actor, credentials::Owner, projects::Project, users::User},
    domain::roles::{Action, InstanceAction, Role, Standing, Whose, allows},
};

/// Who acts in a project: a member (signed in, or through one of their API keys), or one of the
/// project's apps through its API key.
#[derive(Clone, Debug)]
pub struct Principal {
    subject: Subject,
    project: Project,
    role: Role,
    /// Who is acting and from where, for the audit log.
    actor: Actor,
    /// How recently they proved who they are, for the operations of `ops::step_up`.
    freshness: Freshness,
}

/// The member or app a principal is.
#[derive(Clone, Debug)]
pub enum Subject {
    Member(User),
    /// An app acts in the role the admin who made it chose.
    App(App),
}

impl Principal {
    /// A member of `project` in `role`, as the database answered for them: only this module's
    /// makers (from a session, a token, the command line) call it.
    fn new(
        subject: Subject,
        project: Project,
        role: Role,
        actor: Actor,
        freshness: Freshness,
    ) -> Self {
        Principal {
            subject,
            project,
            role,
            actor,
            freshness,
        }
    }

    /// The principal of the state machine's tests (`ops::tests`), which run no database query
    /// to find a membership.
    #[cfg(test)]
    pub(super) fn for_tests(subject: Subject, project: Project, role: Role, actor: Actor) -> Self {
        Principal::new(subject, project, role, actor, Freshness::CommandLine)
    }

    pub fn freshness(&self) -> &Freshness {
        &self.freshness
    }

    pub fn subject(&self) -> &Subject {
        &self.subject
    }

    pub fn project(&self) -> &Project {
        &self.project
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Who is acting and from where, for the audit log.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The acting member; apps are refused what only people do.
    pub fn member(&self) -> Result<&User, OpError> {
        match &self.subject {
            Subject::Member(user) => Ok(user),
            Subject::App(_) => Err(OpError::Forbidden(
                "Only members of the project may do this.",
            )),
        }
    }

    pub fn may(&self, action: Action) -> bool {
        allows(self.role, action)
    }

    /// Refuses what the principal's role does not allow.
    pub fn require(&self, action: Action) -> Result<(), OpError> {
        if self.may(action) {
            Ok(())
        } else {
            Err(OpError::Forbidden(
                "Your role in this project does not allow this.",
            ))
        }
    }

    /// The owner the principal's own keys belong to.
    pub fn owner(&self) -> Owner {
        match &self.subject {
            Subject::Member(user) => Owner::User(user.id.clone()),
            Subject::App(app) => Owner::App(app.id.clone()),
        }
    }

    pub fn whose(&self, owner: &Owner) -> Whose {
        match (&self.subject, owner) {
            (Subject::Member(user), Owner::User(id)) if user.id == *id => Whose::Own,
            (Subject::App(app), Owner::App(id)) if app.id == *id => Whose::Own,
            _ => Whose::Others,
        }
    }

    /// How credentials name who made them.
    pub fn signature(&self) -> String {
        match &self.subject {
            Subject::Member(user) => format!("{} <{}>", user.name, user.email),
            Subject::App(app) => format!("app {}", app.name),
        }
    }

    /// The name Keyport gives the principal's user at a backend.
    pub fn backend_label(&self) -> &str {
        match &self.subject {
            Subject::Member(user) => user.email.split('@').next().unwrap_or("user"),
            Subject::App(app) => &app.name,
        }
    }
}

/// A member's role in a project, as the database answered it for a session's user: what a
/// session's principal is made from.
#[derive(Clone, Debug)]
pub struct Membership {
    project: Project,
    role: Role,
}

impl Membership {
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// The signed-in `user` acting in this project, as `actor`, with the session's `freshness`.
    pub fn principal(self, user: User, actor: Actor, freshness: Freshness) -> Principal {
        Principal::new(
            Subject::Member(user),
            self.project,
            self.role,
            actor,
            freshness,
        )
    }
}

/// What a session's one query found: its record and, when it has a user, that user with their
/// membership of the page's project.
pub struct FoundSession {
    pub record: tower_sessions::session::Record,
    pub signed_in: Option<(User, Option<Membership>)>,
}

/// The session `id` with its user and their membership of project `slug`, in one query. Hand
/// the record to [`with_preloaded`] so that the session layer does not read it again.
pub async fn load_session(
    ops: &Ops,
    id: &tower_sessions::session::Id,
    slug: Option<&str>,
) -> Result<Option<FoundSession>, OpError> {
    let Some(loaded) = db::sessions::load_with_user(&ops.db, id, slug).await? else {
        return Ok(None);
    };
    Ok(Some(FoundSession {
        record: loaded.record,
        signed_in: loaded.signed_in.map(|(user, membership)| {
            (
                user,
                membership.map(|(project, role)| Membership { project, role }),
            )
        }),
    }))
}

pub use db::sessions::with_preloaded;

/// The key under which a session keeps its user's id: the store reads it to tie sessions to
/// their user (one query per page; every session of a user ended at once).
pub use db::sessions::USER_ID_KEY;

/// The caller of an access token as a principal of the project `slug` (the one
/// [`authenticate`](crate::ops::tokens::authenticate) read it for): a member with their role,
/// or an app of that project in the role its admin chose. Any other project is `NotFound`.
pub fn from_token(caller: &Caller, slug: &str, actor: Actor) -> Result<Principal, OpError> {
    let (subject, project, role) = match &caller.holder {
        CallerHolder::Member(user) => {
            let (project, role) = caller.membership_in(slug).ok_or(OpError::NotFound)?;
            (Subject::Member(user.clone()), project.clone(), *role)
        }
        CallerHolder::App { project, app } if project.slug == slug => {
            (Subject::App(app.clone()), project.clone(), app.role)
        }
        CallerHolder::App { .. } => return Err(OpError::NotFound),
    };
    Ok(Principal::new(
        subject,
        project,
        role,
        actor,
        Freshness::Token,
    ))
}

/// `user` acting from the command line in project `slug`, with their role there; `None` when
/// they are not a member.
pub async fn from_command_line(
    ops: &Ops,
    user: &User,
    slug: &str,
) -> Result<Option<Principal>, OpError> {
    let actor = command_line_actor(user);
    member_in(ops, user, slug, actor, Freshness::CommandLine).await
}

/// `user` as a member of project `slug` in the role the database gives them, if they are one.
async fn member_in(
    ops: &Ops,
    user: &User,
    slug: &str,
    actor: Actor,
    freshness: Freshness,
) -> Result<Option<Principal>, OpError> {
    let membership = db::projects::find_for_member(&ops.db, slug, &user.id).await?;
    Ok(membership.map(|(project, role)| {
        Principal::new(
            Subject::Member(user.clone()),
            project,
            role,
            actor,
            freshness,
        )
    }))
}

/// How the audit log names a user acting from the command line.
pub fn command_line_actor(user: &User) -> Actor {
    Actor {
        user_id: Some(user.id.clone()),
        label: format!("{} (command line)", user.email),
        ..Actor::default()
    }
}

/// Refuses `user` an instance action unless `allows` grants it to where they stand.
pub fn require_instance(user: &User, action: InstanceAction) -> Result<(), OpError> {
    if may_in_instance(user, action) {
        Ok(())
    } else {
        Err(OpError::Forbidden(
            "Only instance administrators may do this.",
        ))
    }
}

/// Whether `user` may do the instance action `action` (for what a page offers).
pub fn may_in_instance(user: &User, action: InstanceAction) -> bool {
    let standing = Standing::User {
        instance_admin: user.is_admin,
    };
    allows(standing, Action::Instance(action))
}

/// How recently the one acting proved who they are, as their way in tells it. Its `Debug` leaves
/// the grant out: it is a one-time secret of the session.
#[derive(Clone)]
pub enum Freshness {
    /// A signed-in session of `user_id`: when it last proved who they are, and the grant a
    /// step-up left in it (the random value), if any.
    Session {
        user_id: String,
        proved_at: Option<i64>,
        grant: Option<String>,
    },
    /// An access token: a program proves itself by the API key it holds.
    Token,
    /// The command line: whoever runs it holds the database and the master key.
    CommandLine,
}

impl std::fmt::Debug for Freshness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Freshness::Session {
                user_id,
                proved_at,
                grant,
            } => f
                .debug_struct("Session")
                .field("user_id", user_id)
                .field("proved_at", proved_at)
                .field("grant", &grant.as_ref().map(|_| "[redacted]"))
                .finish(),
            Freshness::Token => f.write_str("Token"),
            Freshness::CommandLine => f.write_str("CommandLine"),
        }
    }
}
