//! Who is asking: extractors that sign-in, instance-admin and project-member pages require.
//! Each decides on the server, for every request; a project the user is not in answers 404.

use std::collections::HashMap;

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, FromRequestParts, Path},
    http::{Method, header, request::Parts},
};
use tower_sessions::Session;

use super::{AppState, PageError, session, view::Ctx};
use crate::{
    db::{self, audit::Actor, projects::Project, users::User},
    domain::roles::{Action, Role, allows},
};

async fn ctx(parts: &mut Parts, state: &AppState) -> Result<(Session, Ctx), PageError> {
    let session = Session::from_request_parts(parts, state)
        .await
        .map_err(|_| PageError::Internal(anyhow::anyhow!("session layer missing")))?;
    let user = session::current_user(state, &session).await?;
    let csrf_token = session::csrf_token(&session).await?;
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
        let (session, ctx) = ctx(parts, state).await?;
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
        let (session, ctx) = ctx(parts, state).await?;
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
        if !signed_in.user.is_admin {
            return Err(PageError::Forbidden(
                "Only instance administrators may do this.",
            ));
        }
        Ok(InstanceAdmin(signed_in))
    }
}

/// A member of the project named by the `{slug}` of the path, with their role.
pub struct ProjectMember {
    pub user: User,
    pub session: Session,
    pub ctx: Ctx,
    pub project: Project,
    pub role: Role,
    /// Who is acting, for the audit log.
    pub actor: Actor,
}

impl ProjectMember {
    pub fn may(&self, action: Action) -> bool {
        allows(self.role, action)
    }

    /// Writes an event to the project's audit log.
    pub async fn audit(
        &self,
        state: &AppState,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<(), PageError> {
        db::audit::record(
            &state.db,
            Some(&self.project.id),
            &self.actor,
            action,
            target,
            detail,
        )
        .await?;
        Ok(())
    }

    pub fn require(&self, action: Action) -> Result<(), PageError> {
        if self.may(action) {
            Ok(())
        } else {
            Err(PageError::Forbidden(
                "Your role in this project does not allow this.",
            ))
        }
    }
}

impl FromRequestParts<AppState> for ProjectMember {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let SignedIn { user, session, ctx } = SignedIn::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| PageError::NotFound)?;
        let slug = params.get("slug").ok_or(PageError::NotFound)?;
        let (project, role) = db::projects::find_for_member(&state.db, slug, &user.id)
            .await?
            .ok_or(PageError::NotFound)?;
        let actor = Actor {
            user_id: Some(user.id.clone()),
            label: user.email.clone(),
            ip: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_string())
                .unwrap_or_default(),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|ua| ua.chars().take(200).collect())
                .unwrap_or_default(),
        };
        Ok(ProjectMember {
            user,
            session,
            ctx,
            project,
            role,
            actor,
        })
    }
}
