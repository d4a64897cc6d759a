//! `/api/v1`: projects, services and their endpoints, credentials (list, create, reveal,
//! regenerate, delete, client configuration) and the audit log, with the role rules of the
//! pages. The OpenAPI document is made from these handlers' annotations.

mod audit;
mod client_config;
mod credentials;
mod projects;

use std::sync::LazyLock;

use axum::{Json, Router, routing::get};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;

use super::error::Failure;
use crate::state::AppState;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "An access token from POST /identity/token (form: grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=KEY).",
            ))
            .build();
        api.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyport API",
        version = "1",
        description = "The credentials a team keeps in Keyport, for programs. Exchange an API key at POST /identity/token for a one-hour access token and send it as `Authorization: Bearer TOKEN`."
    ),
    servers((url = "/api/v1")),
    modifiers(&BearerToken),
    security(("bearer" = []))
)]
struct ApiDoc;

fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(projects::router())
        .merge(credentials::router())
        .merge(client_config::router())
        .merge(audit::router())
}

/// The OpenAPI document of `/api/v1`, made once: it depends on the code only.
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> =
        LazyLock::new(|| documented().into_openapi());
    &DOCUMENT
}

pub fn router() -> Router<AppState> {
    let (router, _) = documented().split_for_parts();
    router
        .route("/openapi.json", get(|| async { Json(openapi()) }))
        .fallback(|| async { Failure::not_found() })
}
