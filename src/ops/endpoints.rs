//! A service's endpoints (site, region, interface, URL, S3 region): everyone in the project sees
//! them; admins and owners add, change and remove them.

use serde::Deserialize;

use super::{FieldErrors, OpError, Ops, Principal, services::managed_service};
use crate::{
    db::{
        self,
        services::{Endpoint, Service},
    },
    domain::{audit::AuditAction, roles::Action, services::Interface, validate},
};

/// An endpoint as typed.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct EndpointInput {
    pub site: String,
    pub region: String,
    pub interface: String,
    pub url: String,
    /// The region its S3 API signs with, where it is not `region`; empty: learned from the S3
    /// API (when a key pair is added, by Test, by the Buckets console), else `region`.
    pub s3_region: String,
}

impl EndpointInput {
    /// The endpoint as typed, checked: every problem at once, by field.
    fn check(&self, id: String, service_id: String) -> Result<Endpoint, OpError> {
        let mut errors = FieldErrors::default();
        let site = errors.check(
            "site",
            validate::label(&self.site, "Enter the site, e.g. Si Racha, Thailand."),
        );
        let region = errors.check(
            "region",
            validate::label(&self.region, "Enter the region, e.g. th-sr-1."),
        );
        let interface = Interface::parse(&self.interface);
        if interface.is_none() {
            errors.add("interface", "Choose public, private or auth.");
        }
        let url = errors.check("url", validate::endpoint_url(&self.url));
        let s3_region = errors.check("s3_region", s3_region(&self.s3_region));
        errors.into_result()?;
        Ok(Endpoint {
            id,
            service_id,
            site,
            region,
            interface: interface.expect("checked above"),
            url,
            s3_region,
        })
    }
}

impl From<&Endpoint> for EndpointInput {
    /// The endpoint as its edit form shows it.
    fn from(endpoint: &Endpoint) -> Self {
        EndpointInput {
            site: endpoint.site.clone(),
            region: endpoint.region.clone(),
            interface: endpoint.interface.as_str().into(),
            url: endpoint.url.clone(),
            s3_region: endpoint.s3_region.clone(),
        }
    }
}

/// An endpoint in the audit log: its interface and URL, and its S3 region when set.
fn described(endpoint: &Endpoint) -> String {
    let Endpoint {
        interface,
        url,
        s3_region,
        ..
    } = endpoint;
    if s3_region.is_empty() {
        format!("{interface} {url}")
    } else {
        format!("{interface} {url} (S3 region {s3_region})")
    }
}

fn fields(endpoint: &Endpoint) -> db::services::NewEndpoint<'_> {
    db::services::NewEndpoint {
        site: &endpoint.site,
        region: &endpoint.region,
        interface: endpoint.interface,
        url: &endpoint.url,
        s3_region: &endpoint.s3_region,
    }
}

/// Adds an endpoint to the service; returns it.
pub async fn add_endpoint(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    input: &EndpointInput,
) -> Result<Endpoint, OpError> {
    let service = managed_service(ops, who, service_id).await?;
    let mut endpoint = input.check(String::new(), service.id.clone())?;
    endpoint.id = db::services::add_endpoint(&ops.db, &service.id, fields(&endpoint)).await?;
    ops.record(
        who,
        AuditAction::EndpointAdd,
        &service.name,
        &described(&endpoint),
    )
    .await?;
    Ok(endpoint)
}

/// Changes an endpoint of the service (its site, region, interface, URL or S3 region) to what
/// `change` makes of its stored values; returns it as now. Programs configured with the old values are not changed; snippets, Test and the
/// Buckets console use the new ones at once. The S3 region is what `input` says, also when the
/// URL changes: empty, it is learned again. A change to nothing is neither written nor audited.
pub async fn change_endpoint(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    endpoint_id: &str,
    change: impl FnOnce(EndpointInput) -> EndpointInput,
) -> Result<Endpoint, OpError> {
    let (service, before) = endpoint(ops, who, service_id, endpoint_id).await?;
    let input = change(EndpointInput::from(&before));
    let endpoint = input.check(before.id.clone(), service.id.clone())?;
    if endpoint == before {
        return Ok(endpoint);
    }
    if !db::services::change_endpoint(&ops.db, &service.id, &endpoint.id, fields(&endpoint)).await?
    {
        return Err(OpError::NotFound);
    }
    let detail = format!(
        "{} ({}, {}) → {} ({}, {})",
        described(&before),
        before.site,
        before.region,
        described(&endpoint),
        endpoint.site,
        endpoint.region
    );
    ops.record(who, AuditAction::EndpointChange, &service.name, &detail)
        .await?;
    Ok(endpoint)
}

/// An S3 region as typed: optional, and when given, a region as S3 endpoints name it (the check
/// a region learned from their answers passes), so that every snippet can hold it.
fn s3_region(value: &str) -> Result<String, &'static str> {
    let value = value.trim();
    if !value.is_empty() && !crate::providers::s3::valid_region(value) {
        return Err(
            "Use at most 64 letters, digits, - and _, e.g. us-east-1; or leave it empty to have it learned.",
        );
    }
    Ok(value.to_string())
}

/// The service and its endpoint `endpoint_id`, for those who manage the service: for the
/// endpoint's edit form and its remove confirmation.
pub async fn endpoint(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    endpoint_id: &str,
) -> Result<(Service, Endpoint), OpError> {
    let service = managed_service(ops, who, service_id).await?;
    let endpoint = db::services::endpoints(&ops.db, &service.id)
        .await?
        .into_iter()
        .find(|e| e.id == endpoint_id)
        .ok_or(OpError::NotFound)?;
    Ok((service, endpoint))
}

pub async fn delete_endpoint(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    endpoint_id: &str,
) -> Result<(), OpError> {
    let service = managed_service(ops, who, service_id).await?;
    if !db::services::delete_endpoint(&ops.db, &service.id, endpoint_id).await? {
        return Err(OpError::NotFound);
    }
    ops.record(who, AuditAction::EndpointDelete, &service.name, "")
        .await
}

/// Every endpoint of the project with the name of its service, sorted by service and site.
pub async fn project_endpoints(
    ops: &Ops,
    who: &Principal,
) -> Result<Vec<(String, Endpoint)>, OpError> {
    who.require(Action::ViewProject)?;
    let services = db::services::list(&ops.db, &who.project().id).await?;
    let endpoints = db::services::project_endpoints(&ops.db, &who.project().id).await?;
    let name_of = |service_id: &str| {
        services
            .iter()
            .find(|s| s.id == service_id)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    };
    Ok(endpoints
        .into_iter()
        .map(|e| (name_of(&e.service_id), e))
        .collect())
}
