//! What the credential pages say about a credential: labels and the warnings of Regenerate and
//! Delete, chosen by the service's kind, its driver and the credential's kind.

use crate::{
    db::{credentials::Credential, services::Service},
    domain::services::{CredentialKind, DriverKind, ServiceKind},
};

/// What the public and the secret part of a credential are called.
pub fn labels(service: &Service, kind: CredentialKind) -> (&'static str, &'static str) {
    match kind.key_style(service.kind) {
        ServiceKind::OpenStack => ("User name", "Password"),
        _ => ("Access key", "Secret"),
    }
}

/// Said of EC2 pairs at Keystone: how soon Swift refuses a revoked pair depends on the cloud.
const CACHE_NOTE: &str = " Swift's S3 API asks Keystone about the pair on every request unless the cloud caches \
     EC2 secrets (s3token's secret_cache_duration); where it does, the old pair may work that much longer.";

/// The cache note, for EC2 pairs at Keystone; empty otherwise.
fn cache_note(service: &Service, credential: &Credential) -> &'static str {
    if credential.kind == CredentialKind::Ec2 && service.driver == DriverKind::Keystone {
        CACHE_NOTE
    } else {
        ""
    }
}

/// The owner's only key, where a second one could give an overlap.
pub fn only_key(service: &Service, held: i64) -> bool {
    held == 1 && service.max_keys_per_owner > 1
}

/// What Regenerate does to `credential`, whose owner holds `held` keys for the service.
pub fn regenerate_warning(service: &Service, credential: &Credential, held: i64) -> String {
    let mut warning = match credential.kind.key_style(service.kind) {
        ServiceKind::OpenStack => format!(
            "Regenerating sets a new password for the OpenStack user {}. It changes everywhere this user signs in: \
             Swift, the S3 API and every other environment. Every program that uses the old password stops working at once.",
            credential.access_key
        ),
        _ => format!(
            "Regenerating replaces the key {} with a new key pair. Every program that uses the old secret stops working at once.",
            credential.access_key
        ),
    };
    warning.push_str(cache_note(service, credential));
    if only_key(service, held) {
        warning.push_str(
            " This is the owner's only key for the service, so there is no overlap: to rotate without interruption, \
             add a second key first, move your programs to it, then delete this one.",
        );
    }
    warning
}

pub fn delete_warning(service: &Service, credential: &Credential) -> String {
    let mut warning = format!(
        "Deleting {} ({}) removes it for good. Every program that uses it stops working.",
        credential.name, credential.access_key
    );
    warning.push_str(cache_note(service, credential));
    warning
}
