//! "Configure your client": the snippets under each credential, and their Download and Copy.
//! A snippet that holds the secret leaves the server only in the answer to an audited POST.

use axum::{
    Form, Router,
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
    routing::post,
};
use serde::Deserialize;

use super::{AppState, PageError, extract::ProjectMember};
pub use crate::ops::client_config::{ConfigChoice, SiteChoice};
use crate::{
    ops::{self, credentials::Purpose},
    snippets::Snippet,
};

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/projects/{slug}/credentials/{id}/config",
        post(credential_config_post),
    )
}

#[derive(Deserialize)]
struct ConfigForm {
    #[serde(default)]
    snippet: String,
    #[serde(flatten)]
    choice: ConfigChoice,
    /// `copy` (answered as text for the page's Copy button) or `download` (an attachment).
    #[serde(default)]
    purpose: String,
}

async fn credential_config_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<ConfigForm>,
) -> Result<Response, PageError> {
    let download = form.purpose != "copy";
    let purpose = if download {
        Purpose::Download(&form.snippet)
    } else {
        Purpose::Copy(&form.snippet)
    };
    let shown = ops::credentials::configure(
        &state.ops,
        &member,
        &id,
        purpose,
        |credential, service, endpoints, secret| {
            SiteChoice::pick(endpoints, &form.choice)
                .snippets(member.project(), service, credential, secret)
                .into_iter()
                .find(|s| s.id == form.snippet)
        },
    )
    .await?;
    let snippet = shown.ok_or(PageError::NotFound)?;
    attachment(snippet, download)
}

/// The snippet as plain text: a download (an attachment with the file name a client expects)
/// or the text the page's Copy button puts on the clipboard.
fn attachment(snippet: Snippet, download: bool) -> Result<Response, PageError> {
    let Ok(body) = snippet.body else {
        return Err(PageError::BadRequest(
            "This credential cannot be written in this format; the page says why.",
        ));
    };
    let disposition = if download {
        format!("attachment; filename=\"{}\"", snippet.file_name)
    } else {
        "inline".to_string()
    };
    let headers = [
        (
            header::CONTENT_TYPE,
            "text/plain; charset=utf-8".to_string(),
        ),
        (header::CONTENT_DISPOSITION, disposition),
    ];
    Ok((headers, body).into_response())
}
