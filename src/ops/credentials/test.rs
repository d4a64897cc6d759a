//! The Test button: one real request with the credential (S3 `ListBuckets`, or a Keystone
//! token). The secret is used, never shown; the verdict is audited.

use std::sync::Arc;

use super::{OpError, Ops, Principal, managed};
use crate::{
    db::{self, credentials::CredentialInfo},
    domain::{
        audit::AuditAction,
        roles::CredentialAction,
        services::{Interface, ServiceKind},
    },
    ops::{Field, ProjectId, RowId, buckets, lifecycle::audit_target},
    providers::probe::{self, Probe},
};

pub struct Tested {
    pub credential: Arc<CredentialInfo>,
    /// `None` when the service has no endpoint to test against.
    pub probe: Option<Probe>,
}

pub async fn test(ops: &Ops, who: &Principal, id: &str) -> Result<Tested, OpError> {
    let (credential, service) = managed(ops, who, id, CredentialAction::Test).await?;
    let endpoints = db::services::endpoints(&ops.db, &service.id).await?;
    let find = |interface: Interface| endpoints.iter().find(|e| e.interface == interface);
    let secret = ops
        .open(
            ProjectId(&who.project().id),
            RowId(&credential.id),
            Field::Secret,
            &credential.secret,
        )
        .await?;
    let probe = match (
        credential.kind.key_style(service.kind),
        find(Interface::Public),
        find(Interface::Auth),
    ) {
        (ServiceKind::S3, Some(endpoint), _) => {
            // Where the console reaches the S3 API (Swift's s3api: the endpoint's root).
            let url = buckets::s3_url(service.kind, endpoint);
            let region = endpoint.signing_region();
            let probe = probe::s3(ops.http(), &url, region, &credential.access_key, &secret).await;
            // The endpoint names the region it signs with: kept as its S3 region (used by the
            // snippets and the Buckets console from now on), and the Test made again with it.
            match probe.expected_region.clone() {
                Some(expected) if expected != region => {
                    db::services::set_s3_region(&ops.db, &service.id, &endpoint.id, &expected)
                        .await?;
                    let again =
                        probe::s3(ops.http(), &url, &expected, &credential.access_key, &secret);
                    Some(again.await)
                }
                _ => Some(probe),
            }
        }
        (ServiceKind::OpenStack, _, Some(endpoint)) => {
            let login = probe::KeystoneLogin {
                auth_url: &endpoint.url,
                username: &credential.access_key,
                user_domain: &service.os_user_domain,
                password: &secret,
                project: &service.os_project_name,
                project_domain: &service.os_project_domain,
            };
            Some(probe::keystone(ops.http(), login).await)
        }
        _ => None,
    };
    if let Some(probe) = &probe {
        ops.record(
            who,
            AuditAction::CredentialTest,
            &audit_target(&service.name, &credential.name),
            probe.verdict.label(),
        )
        .await?;
    }
    Ok(Tested {
        credential: credential.info,
        probe,
    })
}
