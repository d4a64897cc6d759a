//! Everything the credential pages say about what Add, Regenerate and Delete do, in one place,
//! chosen by the service's driver (who issues the keys), the credential's kind and whether it
//! is the owner's only key. Each text says where the change takes effect and what it does not
//! touch; the unit tests below read them case by case.

use crate::{
    domain::services::{CredentialKind, DriverKind, ServiceKind},
    ops::Service,
};

/// What the public and the secret part of a credential are called.
pub fn labels(service: &Service, kind: CredentialKind) -> (&'static str, &'static str) {
    match kind.key_style(service.kind) {
        ServiceKind::OpenStack => ("User name", "Password"),
        _ => ("Access key", "Secret"),
    }
}

/// Who issues the keys of a service, in the words of the pages.
fn issuer(driver: DriverKind) -> &'static str {
    match driver {
        DriverKind::Stored => "your provider",
        DriverKind::Keystone => "Keystone",
        DriverKind::AwsIam => "the IAM backend",
    }
}

/// `text` with its first letter in upper case, to start a sentence.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// What one key is called, with its public part.
fn key_phrase(service: &Service, kind: CredentialKind, access_key: &str) -> String {
    match (kind, service.kind) {
        (CredentialKind::Ec2, _) => format!("the EC2 key pair {access_key}"),
        (_, ServiceKind::OpenStack) => format!("the password of the OpenStack user {access_key}"),
        (_, ServiceKind::Api) => format!("the API key {access_key}"),
        _ => format!("the access key {access_key}"),
    }
}

/// Said of EC2 pairs at Keystone: how soon Swift refuses a revoked pair depends on the cloud.
const CACHE_NOTE: &str = " Swift's S3 API asks Keystone about the pair on every request unless the cloud caches \
     EC2 secrets (s3token's secret_cache_duration); where it does, the old pair may work that much longer.";

/// The cache note, for EC2 pairs at Keystone; empty otherwise.
fn cache_note(service: &Service, kind: CredentialKind) -> &'static str {
    if kind == CredentialKind::Ec2 && service.driver == DriverKind::Keystone {
        CACHE_NOTE
    } else {
        ""
    }
}

/// The owner's only key, where a second one could give an overlap.
pub fn only_key(service: &Service, held: i64) -> bool {
    held == 1 && service.max_keys_per_owner > 1
}

/// The line under the service's heading: where its keys live and what the buttons act on.
pub fn issuer_note(service: &Service) -> String {
    match service.driver {
        DriverKind::Stored => "Keyport keeps this service's keys but no provider is connected: \
            Add records a key your provider gave you, Regenerate replaces it with the new one you got, \
            Delete forgets it here. Nothing is changed at the provider."
            .to_string(),
        remote => format!(
            "Keys of this service are issued by {} ({remote}): Add, Regenerate and Delete act there at once.",
            issuer(remote)
        ),
    }
}

/// Whether the Add form asks for the key the provider gave: where no backend issues the keys
/// (the page never offers to make one up).
pub fn asks_for_the_key(service: &Service) -> bool {
    !service.driver.is_remote()
}

/// The notice after Add. `recorded`: the key was typed in (the provider's), not generated.
pub fn added_notice(service: &Service, kind: CredentialKind, name: &str, recorded: bool) -> String {
    let what = match service.driver {
        DriverKind::Stored if recorded => format!(
            "{name} recorded: Keyport keeps the key your provider gave you. Nothing was changed at the provider."
        ),
        DriverKind::Stored => format!(
            "{name} added with a key Keyport made up: no provider has issued it, so it works only where you set it yourself."
        ),
        remote => format!(
            "{name} added: {} issued {} and it works now.",
            issuer(remote),
            match kind {
                CredentialKind::Ec2 => "a new EC2 key pair",
                CredentialKind::Key if service.kind == ServiceKind::OpenStack => {
                    "a new OpenStack user password"
                }
                CredentialKind::Key => "a new access key",
            }
        ),
    };
    format!("{what} Its secret is shown below this once; Show brings it back later.")
}

/// What Regenerate does to a key of `kind` whose public part is `access_key`; `only`: it is
/// the owner's only key (see [`only_key`]).
pub fn regenerate_warning(
    service: &Service,
    kind: CredentialKind,
    access_key: &str,
    only: bool,
) -> String {
    let key = key_phrase(service, kind, access_key);
    let mut warning = match (service.driver, kind.key_style(service.kind)) {
        (DriverKind::Stored, _) => format!(
            "Enter the new key your provider gave you: Keyport replaces {key} with it. No provider is called: \
             the old key keeps working at your provider until you revoke it there."
        ),
        (remote, ServiceKind::OpenStack) => format!(
            "{} sets a new password for the OpenStack user {access_key}. It changes everywhere this user signs in: \
             Swift, the S3 API and every other environment. Every program that uses the old password stops working at once.",
            sentence(issuer(remote))
        ),
        (remote, _) => format!(
            "{} issues a new key pair and revokes {key}. Every program that uses the old secret stops working at once.",
            sentence(issuer(remote))
        ),
    };
    warning.push_str(cache_note(service, kind));
    if only && service.driver.is_remote() {
        warning.push_str(
            " This is the owner's only key for the service, so there is no overlap: to rotate without interruption, \
             add a second key first, move your programs to it, then delete this one.",
        );
    }
    warning
}

/// The notice after Regenerate. `typed`: the new key was typed in (stored services);
/// `warning`: what did not finish.
pub fn regenerated_notice(
    service: &Service,
    name: &str,
    typed: bool,
    warning: Option<&str>,
) -> String {
    match (service.driver, warning) {
        (DriverKind::Stored, _) if typed => format!(
            "{name} now holds the new key you entered. Nothing was changed at your provider: revoke the old key there."
        ),
        (DriverKind::Stored, _) => format!(
            "{name} now holds a new key that Keyport made up: no provider has issued it, and the old key was not revoked anywhere."
        ),
        (remote, Some(warning)) => {
            format!("{name} was regenerated at {}. {warning}", issuer(remote))
        }
        (remote, None) => format!(
            "{name} was regenerated at {}: the old secret no longer works. Use Show to see the new one.",
            issuer(remote)
        ),
    }
}

/// What Delete does to a key of `kind` named `name` whose public part is `access_key`.
pub fn delete_warning(
    service: &Service,
    kind: CredentialKind,
    name: &str,
    access_key: &str,
) -> String {
    let key = key_phrase(service, kind, access_key);
    let mut warning = match service.driver {
        DriverKind::Stored => format!(
            "Deleting {name} forgets {key} in Keyport. Nothing is changed at your provider: \
             the key keeps working there until you revoke it."
        ),
        remote => format!(
            "Deleting {name} revokes {key} at {} and removes it for good. Every program that uses it stops working.",
            issuer(remote)
        ),
    };
    warning.push_str(cache_note(service, kind));
    warning
}

/// The notice after Delete.
pub fn deleted_notice(service: &Service, name: &str) -> String {
    match service.driver {
        DriverKind::Stored => format!(
            "{name} was deleted from Keyport. The key still works at your provider until you revoke it there."
        ),
        remote => format!(
            "{name} was deleted at {}: it no longer works.",
            issuer(remote)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(kind: ServiceKind, driver: DriverKind) -> Service {
        Service {
            id: "s".into(),
            project_id: "p".into(),
            kind,
            name: "Storage".into(),
            description: String::new(),
            driver,
            max_keys_per_owner: 2,
            os_user_domain: String::new(),
            os_project_name: String::new(),
            os_project_domain: String::new(),
            created_at: 0,
            policy: Default::default(),
        }
    }

    fn stored() -> Service {
        service(ServiceKind::S3, DriverKind::Stored)
    }
    fn keystone() -> Service {
        service(ServiceKind::OpenStack, DriverKind::Keystone)
    }
    fn iam() -> Service {
        service(ServiceKind::S3, DriverKind::AwsIam)
    }

    #[test]
    fn a_stored_service_never_claims_a_provider_acted() {
        let s = stored();
        for text in [
            issuer_note(&s),
            added_notice(&s, CredentialKind::Key, "laptop", true),
            added_notice(&s, CredentialKind::Key, "laptop", false),
            regenerate_warning(&s, CredentialKind::Key, "AKIA1", true),
            regenerate_warning(&s, CredentialKind::Key, "AKIA1", false),
            regenerated_notice(&s, "laptop", true, None),
            regenerated_notice(&s, "laptop", false, None),
            delete_warning(&s, CredentialKind::Key, "laptop", "AKIA1"),
            deleted_notice(&s, "laptop"),
        ] {
            assert!(!text.contains("stops working"), "{text}");
            assert!(!text.contains("no longer works"), "{text}");
            assert!(
                text.contains("provider") || text.contains("Keyport"),
                "says who did it: {text}"
            );
        }
        assert!(
            added_notice(&s, CredentialKind::Key, "laptop", false)
                .contains("no provider has issued it")
        );
        assert!(
            regenerate_warning(&s, CredentialKind::Key, "AKIA1", true)
                .contains("No provider is called")
        );
        assert!(!regenerate_warning(&s, CredentialKind::Key, "AKIA1", true).contains("only key"));
        assert!(
            regenerated_notice(&s, "laptop", true, None)
                .contains("Nothing was changed at your provider")
        );
        assert!(
            delete_warning(&s, CredentialKind::Key, "laptop", "AKIA1")
                .contains("keeps working there")
        );
        assert!(asks_for_the_key(&s));
    }

    #[test]
    fn keystone_passwords_change_everywhere_the_user_signs_in() {
        let s = keystone();
        let warning = regenerate_warning(&s, CredentialKind::Key, "team-ada", false);
        assert!(
            warning.starts_with("Keystone sets a new password for the OpenStack user team-ada")
        );
        assert!(
            warning.contains("Every program that uses the old password stops working at once.")
        );
        assert!(
            !warning.contains("secret_cache_duration"),
            "no EC2 note for a password"
        );
        assert!(!warning.contains("only key"));
        let only = regenerate_warning(&s, CredentialKind::Key, "team-ada", true);
        assert!(only.contains("only key") && only.contains("add a second key first"));
        assert!(
            added_notice(&s, CredentialKind::Key, "cli", false)
                .starts_with("cli added: Keystone issued a new OpenStack user password")
        );
        assert_eq!(
            regenerated_notice(&s, "cli", false, None),
            "cli was regenerated at Keystone: the old secret no longer works. Use Show to see the new one."
        );
        assert!(
            delete_warning(&s, CredentialKind::Key, "cli", "team-ada")
                .contains("revokes the password of the OpenStack user team-ada at Keystone")
        );
        assert_eq!(
            deleted_notice(&s, "cli"),
            "cli was deleted at Keystone: it no longer works."
        );
        assert!(!asks_for_the_key(&s));
        assert!(issuer_note(&s).contains("issued by Keystone (keystone)"));
    }

    #[test]
    fn keystone_ec2_pairs_mention_swifts_cache() {
        let s = keystone();
        let warning = regenerate_warning(&s, CredentialKind::Ec2, "ab12", false);
        assert!(
            warning
                .starts_with("Keystone issues a new key pair and revokes the EC2 key pair ab12.")
        );
        assert!(warning.contains("secret_cache_duration"));
        assert!(regenerate_warning(&s, CredentialKind::Ec2, "ab12", true).contains("no overlap"));
        assert!(
            delete_warning(&s, CredentialKind::Ec2, "s3", "ab12").contains("secret_cache_duration")
        );
        assert!(
            added_notice(&s, CredentialKind::Ec2, "s3", false)
                .starts_with("s3 added: Keystone issued a new EC2 key pair and it works now.")
        );
    }

    #[test]
    fn aws_iam_keys_act_at_the_iam_backend() {
        let s = iam();
        let warning = regenerate_warning(&s, CredentialKind::Key, "AKIA2", false);
        assert!(warning.starts_with("The IAM backend issues a new key pair"));
        assert!(warning.contains("revokes the access key AKIA2"));
        assert!(!warning.contains("secret_cache_duration"));
        assert!(
            regenerate_warning(&s, CredentialKind::Key, "AKIA2", true)
                .contains("add a second key first")
        );
        assert_eq!(
            regenerated_notice(
                &s,
                "ci",
                false,
                Some("The old one could not be revoked yet.")
            ),
            "ci was regenerated at the IAM backend. The old one could not be revoked yet."
        );
        assert_eq!(
            deleted_notice(&s, "ci"),
            "ci was deleted at the IAM backend: it no longer works."
        );
        assert!(
            added_notice(&s, CredentialKind::Key, "ci", false)
                .contains("the IAM backend issued a new access key")
        );
    }

    #[test]
    fn only_key_needs_room_for_a_second() {
        let mut s = iam();
        assert!(only_key(&s, 1));
        assert!(!only_key(&s, 2));
        s.max_keys_per_owner = 1;
        assert!(
            !only_key(&s, 1),
            "no overlap is possible, so none is offered"
        );
    }
}
