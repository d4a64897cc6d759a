//! Which site and variant a credential's client configuration is written for, and the
//! snippets for it: the same choice for the page's panel and the API's `config`.

use serde::Deserialize;

use crate::{
    db::{
        projects::Project,
        services::{Endpoint, Service},
    },
    domain::{
        credentials::CredentialInfo,
        services::{CredentialKind, Interface, ServiceKind},
        validate::origin,
    },
    snippets::{self, OpenStackScope, Snippet, Target, Variant},
};

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
        credential: &CredentialInfo,
        secret: Option<&str>,
    ) -> Vec<Snippet> {
        let name = snippets::profile_name(&project.slug, &service.name);
        // S3 clients sign with the S3 API's region, which an OpenStack cloud's s3api may keep
        // apart from its catalog's (see `Endpoint::s3_region`); the OpenStack clients need the
        // catalog's.
        let s3_style = credential.kind.key_style(service.kind) == ServiceKind::S3;
        let region = self
            .endpoint
            .as_ref()
            .or(self.auth.as_ref())
            .map(|e| {
                if s3_style && !e.s3_region.is_empty() {
                    e.s3_region.as_str()
                } else {
                    e.region.as_str()
                }
            })
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
