//! Who is asking: extractors that sign-in, instance-admin and project-member pages require.
//! Each decides on the server, for every request; a project the user is not in answers 404.

use std::{collections::HashMap, net::SocketAddr, ops::Deref};

use axum::{
    extract::{ConnectInfo, FromRequestParts, Path},
    http::{Method, header, request::Parts},
};
use tower_sessions::Session;

use super::{AppState, PageError, session, view::Ctx};
use crate::{
    db::{self, audit::Actor, users::User},
    ops::{Principal, Subject},
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
        let SignedIn { user, session, ctx } = SignedIn::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| PageError::NotFound)?;
        let slug = params.get("slug").ok_or(PageError::NotFound)?;
        let (project, role) = db::projects::find_for_member(&state.db, slug, &user.id)
            .await?
            .ok_or(PageError::NotFound)?;
        let actor = actor(parts, &user);
        Ok(ProjectMember {
            session,
            ctx,
            principal: Principal {
                subject: Subject::Member(user),
                project,
                role,
                actor,
            },
        })
    }
}

/// The signed-in `user` as the audit log names them: with their address and browser.
pub fn actor(parts: &Parts, user: &User) -> Actor {
    actor_as(parts, Some(user.id.clone()), user.email.clone())
}

/// Who acts, named `label`, from the request's address and user agent.
pub fn actor_as(parts: &Parts, user_id: Option<String>, label: String) -> Actor {
    Actor {
        user_id,
        label,
        ip: client_ip(parts),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(200).collect())
            .unwrap_or_default(),
    }
}

/// The client's address, for the audit log and the throttles: the one forwarded by a trusted
/// proxy (`super::client_address`), else the connecting address.
pub fn client_ip(parts: &Parts) -> String {
    if let Some(super::client_address::ClientAddress(address)) = parts.extensions.get() {
        return address.to_string();
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_default()
}
