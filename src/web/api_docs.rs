//! `/api`: the REST API described for people, made from the same OpenAPI document that
//! `/api/v1/openapi.json` serves, so the page cannot drift from the API.

use askama::Template;
use askama_web::WebTemplate;
use axum::{Router, routing::get};
use utoipa::openapi::{
    OpenApi, RefOr, Required,
    path::{Operation, ParameterIn},
};

use super::{AppState, extract::SignedIn, view::Ctx};

/// `document` is the API's own description, handed down by the assembly of the app.
pub fn router(document: &'static OpenApi) -> Router<AppState> {
    Router::new().route(
        "/api",
        get(move |state, signed_in| api_docs_get(state, signed_in, document)),
    )
}

/// One operation of the API, as the page lists it.
pub struct OperationView {
    pub method: &'static str,
    pub path: String,
    pub summary: String,
    pub description: String,
    /// `name (in): description`, required ones marked.
    pub parameters: Vec<String>,
    pub body: bool,
    /// `status: description`.
    pub responses: Vec<String>,
}

impl OperationView {
    fn new(method: &'static str, path: &str, operation: &Operation) -> Self {
        let parameters = operation
            .parameters
            .iter()
            .flatten()
            .map(|p| {
                let place = match p.parameter_in {
                    ParameterIn::Path => "path",
                    ParameterIn::Query => "query",
                    ParameterIn::Header => "header",
                    ParameterIn::Cookie => "cookie",
                };
                let required = if matches!(p.required, Required::True) {
                    ", required"
                } else {
                    ""
                };
                let description = p.description.clone().unwrap_or_default();
                format!("{} ({place}{required}): {description}", p.name)
            })
            .collect();
        let responses = operation
            .responses
            .responses
            .iter()
            .map(|(status, response)| match response {
                RefOr::T(response) => format!("{status}: {}", response.description),
                RefOr::Ref(_) => status.clone(),
            })
            .collect();
        OperationView {
            method,
            path: path.to_string(),
            summary: operation.summary.clone().unwrap_or_default(),
            description: operation.description.clone().unwrap_or_default(),
            parameters,
            body: operation.request_body.is_some(),
            responses,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "api_docs.html")]
pub struct ApiDocsPage {
    ctx: Ctx,
    base: String,
    description: String,
    operations: Vec<OperationView>,
}

async fn api_docs_get(
    axum::extract::State(state): axum::extract::State<AppState>,
    signed_in: SignedIn,
    document: &'static OpenApi,
) -> ApiDocsPage {
    let mut operations = Vec::new();
    for (path, item) in &document.paths.paths {
        let methods = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ];
        for (method, operation) in methods {
            if let Some(operation) = operation {
                operations.push(OperationView::new(method, path, operation));
            }
        }
    }
    ApiDocsPage {
        ctx: signed_in.ctx,
        base: format!("{}/api/v1", state.config.public_url()),
        description: document.info.description.clone().unwrap_or_default(),
        operations,
    }
}
