//! `/projects/{project}/credentials/{id}/config`: a credential's client configuration, as the
//! page's Download gives it, through the same operation: the secret is opened, and the download
//! audited, only for a configuration that holds it.

use std::sync::Mutex;

use axum::{
    extract::{Path, Query, State, rejection::QueryRejection},
    http::header,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema, openapi::Object};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::{
        auth::ApiPrincipal,
        error::{ApiError, Failure},
    },
    ops::client_config::{ConfigChoice, SiteChoice},
    ops::{self, OpError, credentials::Purpose},
    snippets::Snippet,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(credential_config_get))
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum SecretVariant {
    With,
    Without,
}

/// Every client configuration, for the kinds of service that offer each.
const CLIENTS: [&str; 16] = [
    "aws-credentials",
    "aws-config",
    "aws-env",
    "rclone",
    "s3cmd",
    "boto3",
    "mc",
    "curl",
    "openrc-v3",
    "clouds-yaml",
    "secure-yaml",
    "swift",
    "openrc-v2",
    "api-env",
    "api-curl",
    "api-python",
];

fn client_schema() -> Object {
    super::one_of(CLIENTS)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ConfigParams {
    /// The client configuration: `aws-credentials` to `curl` for S3 services (`aws-credentials`
    /// only with the secret), `openrc-v3` to `openrc-v2` for OpenStack, `api-env` and `api-curl`
    /// for APIs.
    #[param(schema_with = client_schema)]
    client: String,
    /// The site whose endpoints it points at; the service's first site if missing or unknown.
    site: Option<String>,
    /// `with` the secret (the default; audited as a download), or `without` it (the client asks
    /// for it or reads it from the environment).
    #[param(inline)]
    variant: Option<SecretVariant>,
}

/// A credential's client configuration.
///
/// As the page's Download gives it: a file or commands for one client, audited as a download
/// when it holds the secret.
#[utoipa::path(
    get,
    path = "/projects/{project}/credentials/{id}/config",
    tag = "credentials",
    params(
        ("project" = String, Path, description = "The project's slug"),
        ("id" = String, Path, description = "The credential's id"),
        ConfigParams,
    ),
    responses(
        (status = 200, description = "The configuration file or commands", body = String, content_type = "text/plain"),
        (status = 401, description = "No valid access token", body = ApiError),
        (status = 403, description = "The caller sees the credential but may not reveal it", body = ApiError),
        (status = 404, description = "No such project or credential, or the caller may not see it", body = ApiError),
        (status = 409, description = "The stored secret cannot be decrypted", body = ApiError),
        (status = 422, description = "The service offers no such client, or this credential cannot be written in its format; the message says why", body = ApiError),
    )
)]
async fn credential_config_get(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path((_, id)): Path<(String, String)>,
    params: Result<Query<ConfigParams>, QueryRejection>,
) -> Result<Response, Failure> {
    let Query(params) = params?;
    let choice = params.choice();
    let offered = Mutex::new(Vec::new());
    let purpose = Purpose::Download(&params.client);
    let shown = ops::credentials::configure(
        &state.ops,
        &who,
        &id,
        purpose,
        |credential, service, endpoints, secret| {
            let snippets = SiteChoice::pick(endpoints, &choice).snippets(
                who.project(),
                service,
                credential,
                secret,
            );
            *offered.lock().expect("lock") = snippets.iter().map(|s| s.id).collect();
            snippets.into_iter().find(|s| s.id == params.client)
        },
    )
    .await?;
    let Some(snippet) = shown else {
        let offered = offered.lock().expect("lock").join(", ");
        return Err(OpError::field("client", format!("This service offers: {offered}.")).into());
    };
    download(snippet)
}

impl ConfigParams {
    /// The page's site and variant picker, as these parameters set it.
    fn choice(&self) -> ConfigChoice {
        ConfigChoice {
            site: self.site.clone().unwrap_or_default(),
            variant: match self.variant {
                Some(SecretVariant::Without) => "without".into(),
                _ => "with".into(),
            },
            configure: String::new(),
        }
    }
}

/// The configuration as a download, under the file name its client expects; a credential the
/// format cannot hold is refused with the reason.
fn download(snippet: Snippet) -> Result<Response, Failure> {
    let body = snippet
        .body
        .map_err(|why| Failure::from(OpError::field("client", why.to_string())))?;
    let disposition = format!("attachment; filename=\"{}\"", snippet.file_name);
    let headers = [
        (
            header::CONTENT_TYPE,
            "text/plain; charset=utf-8".to_string(),
        ),
        (header::CONTENT_DISPOSITION, disposition),
    ];
    Ok((headers, body).into_response())
}
