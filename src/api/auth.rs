//! Who calls the API: the bearer token checked on every request (its key still usable, its
//! member still enabled), and, for project paths, the caller as a principal of that project.

use std::{collections::HashMap, net::SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts, Path},
    http::{header, request::Parts},
};

use super::error::Failure;
use crate::{
    db::audit::Actor,
    ops::{
        self, Principal,
        tokens::{Caller, actor_label},
    },
    web::AppState,
};

/// The holder of a valid access token.
pub struct ApiCaller(pub Caller);

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .ok_or_else(Failure::unauthorized)?;
        let caller = ops::tokens::authenticate(&state.ops, token.trim())
            .await?
            .ok_or_else(Failure::unauthorized)?;
        Ok(ApiCaller(caller))
    }
}

/// The client's address, for the audit log and the throttle.
pub fn client_ip(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_default()
}

/// The caller as a principal of the project named by `{project}` in the path; a project the
/// caller may not reach answers 404.
pub struct ApiPrincipal(pub Principal);

impl FromRequestParts<AppState> for ApiPrincipal {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let ApiCaller(caller) = ApiCaller::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| Failure::not_found())?;
        let slug = params.get("project").ok_or_else(Failure::not_found)?;
        let actor = Actor {
            user_id: match &caller.holder {
                ops::tokens::CallerHolder::Member(user) => Some(user.id.clone()),
                ops::tokens::CallerHolder::App { .. } => None,
            },
            label: actor_label(&caller),
            ip: client_ip(parts),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|ua| ua.chars().take(200).collect())
                .unwrap_or_default(),
        };
        let principal = ops::tokens::principal(&state.ops, &caller, slug, actor).await?;
        Ok(ApiPrincipal(principal))
    }
}
