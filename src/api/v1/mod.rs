//! `/api/v1`: projects, services with their endpoints and backend settings, credentials (list,
//! create, edit, reveal, regenerate, delete, client configuration, guided rotation), members,
//! apps and their API keys, the audit log, and the Buckets console, with the role rules of the
//! pages. The OpenAPI document is made from these handlers' annotations.

mod app_keys;
mod apps;
mod audit;
mod backends;
mod buckets;
mod client_config;
mod credential_edit;
mod credentials;
mod endpoints;
mod members;
mod paging;
mod projects;
mod rotation;
mod services;

use std::sync::LazyLock;

use axum::{Json, Router, http::StatusCode, routing::get};
use utoipa::{
    Modify, OpenApi,
    openapi::{
        Object, ObjectBuilder, Type,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
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
        .merge(services::router())
        .merge(endpoints::router())
        .merge(backends::router())
        .merge(credentials::router())
        .merge(credential_edit::router())
        .merge(client_config::router())
        .merge(members::router())
        .merge(apps::router())
        .merge(app_keys::router())
        .merge(audit::router())
        .merge(rotation::router())
        .merge(buckets::router())
}

/// The schema of a string that is one of `values` (the handler checks it, so that a wrong one
/// is told next to its field).
fn one_of(values: impl IntoIterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .build()
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
        .method_not_allowed_fallback(|| async {
            Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "This path does not take this method: see /api/v1/openapi.json.",
            )
        })
}
