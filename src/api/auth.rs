//! Who calls the API: the bearer token checked on every request (its key still usable, its
//! member still enabled), and, for project paths, the caller as a principal of that project.

use std::collections::HashMap;

use axum::{
    extract::{FromRequestParts, Path},
    http::{header, request::Parts},
};

use super::error::Failure;
use crate::{
    ops::{
        self, Principal,
        tokens::{Caller, actor_label},
    },
    origin::actor_as,
    state::AppState,
};

/// The bearer token of a request, if it sends one.
fn bearer(parts: &Parts) -> Result<&str, Failure> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(Failure::unauthorized)
}

/// The holder of a valid access token.
pub struct ApiCaller(pub Caller);

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let caller = ops::tokens::authenticate(&state.ops, bearer(parts)?, None)
            .await?
            .ok_or_else(Failure::unauthorized)?;
        Ok(ApiCaller(caller))
    }
}

/// The caller as a principal of the project named by `{project}` in the path, read with its
/// token's key in one query; a project the caller may not reach answers 404.
pub struct ApiPrincipal(pub Principal);

impl FromRequestParts<AppState> for ApiPrincipal {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let token = bearer(parts)?.to_string();
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| Failure::not_found())?;
        let slug = params.get("project").ok_or_else(Failure::not_found)?;
        let caller = ops::tokens::authenticate(&state.ops, &token, Some(slug))
            .await?
            .ok_or_else(Failure::unauthorized)?;
        let user_id = match &caller.holder {
            ops::tokens::CallerHolder::Member(user) => Some(user.id.clone()),
            ops::tokens::CallerHolder::App { .. } => None,
        };
        let actor = actor_as(parts, user_id, actor_label(&caller));
        Ok(ApiPrincipal(ops::principal::from_token(
            &caller, slug, actor,
        )?))
    }
}
