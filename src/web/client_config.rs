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

use super::{AppState, PageError, extract::ProjectMember, step_up::RecentProof};
use crate::{
    db::{
        credentials::Credential,
        projects::Project,
        services::{Endpoint, Service},
    },
    domain::{
        services::{CredentialKind, Interface},
        validate::origin,
    },
    ops::{self, credentials::Purpose},
    snippets::{self, OpenStackScope, Snippet, Target, Variant},
};

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/projects/{slug}/credentials/{id}/config",
        post(credential_config_post),
    )
}

/// The site and variant the snippets are shown for, from the page's picker.
#[derive(Deserialize, Default, Clone)]
pub struct ConfigChoice {
    #[serde(default)]
    pub site: String,
    #[serde(default)]
    pub variant: String,
    /// The credential whose panel is open. Panels are rendered one at a time: all of them, for
    /// every credential of a page, cost more than the rest of the page.
    #[serde(default)]
    pub configure: String,
}

/// The endpoints of one site that the snippets point at.
pub struct SiteChoice {
    /// Every site of the service, in the order the endpoints list them.
    pub sites: Vec<String>,
    pub site: String,
    pub variant: Variant,
    /// The credential whose panel is open, if any.
    pub configure: String,
    endpoint: Option<Endpoint>,
    auth: Option<Endpoint>,
}

impl SiteChoice {
    /// The chosen site (or the first), its public endpoint and its authentication endpoint.
    pub fn pick(endpoints: &[Endpoint], choice: &ConfigChoice) -> SiteChoice {
        let mut sites: Vec<String> = Vec::new();
        for endpoint in endpoints {
            if !sites.contains(&endpoint.site) {
                sites.push(endpoint.site.clone());
            }
        }
        let site = if sites.contains(&choice.site) {
            choice.site.clone()
        } else {
            sites.first().cloned().unwrap_or_default()
        };
        let of_site = |interface: Interface| {
            endpoints
                .iter()
                .find(|e| e.site == site && e.interface == interface)
                .or_else(|| endpoints.iter().find(|e| e.interface == interface))
                .cloned()
        };
        SiteChoice {
            endpoint: of_site(Interface::Public),
            auth: of_site(Interface::Auth),
            site,
            sites,
            variant: Variant::parse(&choice.variant),
            configure: choice.configure.clone(),
        }
    }

    /// The snippets for one credential; `secret` is `None` until it is revealed.
    pub fn snippets(
        &self,
        project: &Project,
        service: &Service,
        credential: &Credential,
        secret: Option<&str>,
    ) -> Vec<Snippet> {
        let name = snippets::profile_name(&project.slug, &service.name);
        let region = self
            .endpoint
            .as_ref()
            .or(self.auth.as_ref())
            .map(|e| e.region.as_str())
            .unwrap_or_default();
        // An EC2 pair of an OpenStack cloud speaks S3 to the object store's address.
        let ec2 = credential.kind == CredentialKind::Ec2;
        let s3_endpoint = ec2
            .then(|| self.endpoint.as_ref().and_then(|e| origin(&e.url)))
            .flatten();
        let target = Target {
            name: &name,
            kind: credential.kind.key_style(service.kind),
            access_key: &credential.access_key,
            secret,
            endpoint: if ec2 {
                s3_endpoint.as_deref()
            } else {
                self.endpoint.as_ref().map(|e| e.url.as_str())
            },
            auth_url: self.auth.as_ref().map(|e| e.url.as_str()),
            instance_id: &service.id,
            region,
            scope: OpenStackScope {
                project_name: &service.os_project_name,
                user_domain: &service.os_user_domain,
                project_domain: &service.os_project_domain,
            },
        };
        snippets::render(&target, self.variant)
    }
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
    _proof: RecentProof,
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
                .snippets(&member.project, service, credential, secret)
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
