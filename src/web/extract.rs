//! Who is asking: extractors that sign-in, instance-admin and project-member pages require.
//! Each decides on the server, for every request; a project the user is not in answers 404.

use std::{collections::HashMap, ops::Deref};

use axum::{
    extract::{FromRequestParts, Path},
    http::{Method, request::Parts},
};
use tower_sessions::Session;

use super::{AppState, PageError, session, view::Ctx};
pub use crate::origin::Origin;
use crate::{
    domain::roles::InstanceAction,
    ops::{
        Principal, User,
        principal::{self, Membership},
    },
    origin::actor,
};

/// The session and the frame of the page; for a project page (`slug`), also the user's project
/// and role there. A signed-in page reads its session, user, project and role in one query.
async fn ctx(
    parts: &mut Parts,
    state: &AppState,
    slug: Option<&str>,
) -> Result<(Session, Ctx, Option<Membership>), PageError> {
    let session = Session::from_request_parts(parts, state)
        .await
        .map_err(|_| PageError::Internal(anyhow::anyhow!("session layer missing")))?;
    let (user, membership) = match session.id() {
        None => (None, None),
        Some(id) => {
            let loaded = principal::load_session(&state.ops, &id, slug).await?;
            let (record, signed_in) = match loaded {
                Some(loaded) => (Some(loaded.record), loaded.signed_in),
                None => (None, None),
            };
            // The session takes what was just read instead of reading it again.
            let user_id = principal::with_preloaded(id, record, session::user_id(&session)).await?;
            match (user_id, signed_in) {
                (None, _) => (None, None),
                (Some(_), Some((user, membership))) => {
                    let user = session::accept(&session, Some(user)).await?;
                    let membership = membership.filter(|_| user.is_some());
                    (user, membership)
                }
                // Signed in as a user since deleted: the session ends.
                (Some(_), None) => (session::accept(&session, None).await?, None),
            }
        }
    };
    let csrf_token = match session::stored_csrf_token(&session).await? {
        Some(token) => token,
        None => parts
            .extensions
            .get::<super::csrf::VisitorToken>()
            .map(|t| t.token(state.ops.form_tokens()))
            .unwrap_or_default(),
    };
    // A notice is shown on the next page the user looks at, not consumed by a form post.
    let notice = if parts.method == Method::GET {
        session::take_notice(&session).await?
    } else {
        None
    };
    Ok((
        session,
        Ctx {
            user,
            csrf_token,
            notice,
        },
        membership,
    ))
}

/// Anyone, signed in or not.
pub struct Visitor {
    pub session: Session,
    pub ctx: Ctx,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (session, ctx, _) = ctx(parts, state, None).await?;
        Ok(Visitor { session, ctx })
    }
}

/// A signed-in, enabled user; others are sent to the login page.
pub struct SignedIn {
    pub user: User,
    pub session: Session,
    pub ctx: Ctx,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (session, ctx, _) = ctx(parts, state, None).await?;
        let user = ctx.user.clone().ok_or(PageError::SignInRequired)?;
        Ok(SignedIn { user, session, ctx })
    }
}

/// An instance admin.
pub struct InstanceAdmin(pub SignedIn);

impl FromRequestParts<AppState> for InstanceAdmin {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        // Every instance page asks for one of the instance actions; each is an admin's alone.
        if !principal::may_in_instance(&signed_in.user, InstanceAction::ManageUsers) {
            return Err(PageError::Forbidden(
                "Only instance administrators may do this.",
            ));
        }
        Ok(InstanceAdmin(signed_in))
    }
}

/// A member of the project named by the `{slug}` of the path, with their role. What they may do
/// is decided by the operations they call, through [`Principal`].
pub struct ProjectMember {
    pub session: Session,
    pub ctx: Ctx,
    pub principal: Principal,
}

impl Deref for ProjectMember {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl FromRequestParts<AppState> for ProjectMember {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| PageError::NotFound)?;
        let slug = params.get("slug").ok_or(PageError::NotFound)?;
        let (session, ctx, membership) = ctx(parts, state, Some(slug)).await?;
        let user = ctx.user.clone().ok_or(PageError::SignInRequired)?;
        let membership = membership.ok_or(PageError::NotFound)?;
        let actor = actor(parts, &user);
        let freshness = session::freshness(&session, &user).await?;
        Ok(ProjectMember {
            session,
            ctx,
            principal: membership.principal(user, actor, freshness),
        })
    }
}
