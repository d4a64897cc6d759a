//! Where a request comes from, for pages and API alike: the client's address (believed from
//! trusted proxies only, [`client_address`]) and the audit log's actor made from it.

pub mod client_address;

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{header, request::Parts},
};

use crate::ops::{Actor, User};

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
/// proxy ([`client_address`]), else the connecting address.
pub fn client_ip(parts: &Parts) -> String {
    if let Some(client_address::ClientAddress(address)) = parts.extensions.get() {
        return address.to_string();
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_default()
}

/// Where a request comes from (address and browser), for the audit records of people not
/// signed in yet, or of pages whose extractor does not name the actor.
pub struct Origin(pub Actor);

impl Origin {
    /// The record's actor: `user`, from this request.
    pub fn by(&self, user: &User) -> Actor {
        Actor {
            user_id: Some(user.id.clone()),
            label: user.email.clone(),
            ..self.0.clone()
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Origin(actor_as(parts, None, "anonymous".into())))
    }
}
