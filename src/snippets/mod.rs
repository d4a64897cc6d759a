//! Ready-made client configuration: for one credential and one endpoint, the files and commands
//! that the usual clients read (AWS CLI, rclone, s3cmd, boto3, mc, curl, OpenStack RC files,
//! clouds.yaml, the Swift CLI, IBM's Python SDK). The page, the downloads and the tests all
//! render through here.

mod api;
mod openstack;
pub mod quote;
mod s3;

use crate::domain::services::ServiceKind;
pub use quote::Unrepresentable;

/// What stands in for the secret when the viewer has not revealed it, or may not.
pub const SECRET_PLACEHOLDER: &str = "<secret: press Show>";

/// Whether a snippet carries the secret, or asks for it (or reads it from the environment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    WithSecret,
    WithoutSecret,
}

impl Variant {
    pub fn parse(value: &str) -> Variant {
        if value == "without" {
            Variant::WithoutSecret
        } else {
            Variant::WithSecret
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Variant::WithSecret => "with",
            Variant::WithoutSecret => "without",
        }
    }
}

/// The OpenStack scope a credential signs in to.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenStackScope<'a> {
    pub project_name: &'a str,
    pub user_domain: &'a str,
    pub project_domain: &'a str,
}

/// Everything a snippet is filled with.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    /// Profile, remote or cloud name: already reduced to `[a-z0-9-]` by [`profile_name`].
    pub name: &'a str,
    pub kind: ServiceKind,
    /// Access key id, OpenStack user name, or API key id.
    pub access_key: &'a str,
    /// `None` renders [`SECRET_PLACEHOLDER`].
    pub secret: Option<&'a str>,
    /// The service URL of the chosen site (S3 endpoint, API base URL).
    pub endpoint: Option<&'a str>,
    /// Keystone's URL of the chosen site, or the token URL an API key is exchanged at.
    pub auth_url: Option<&'a str>,
    /// The service's instance id, which an API service's clients send with each call.
    pub instance_id: &'a str,
    pub region: &'a str,
    pub scope: OpenStackScope<'a>,
}

impl std::fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("access_key", &self.access_key)
            .field("secret", &self.secret.map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl Target<'_> {
    fn secret(&self) -> &str {
        self.secret.unwrap_or(SECRET_PLACEHOLDER)
    }
}

/// One client's configuration.
pub struct Snippet {
    /// Stable id, used in URLs and tests: `aws-credentials`, `openrc-v3`, ...
    pub id: &'static str,
    pub client: &'static str,
    /// Conventional file name for the download.
    pub file_name: &'static str,
    /// Where the file goes, or how to use it.
    pub usage: String,
    /// The text, or why this credential cannot be written in the format.
    pub body: Result<String, Unrepresentable>,
    /// The body contains the secret (so a download is audited like a reveal).
    pub holds_secret: bool,
    pub deprecated: bool,
}

impl std::fmt::Debug for Snippet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snippet")
            .field("id", &self.id)
            .field("holds_secret", &self.holds_secret)
            .finish_non_exhaustive()
    }
}

/// Every snippet for the target's kind of service, in the order the page shows them.
pub fn render(target: &Target<'_>, variant: Variant) -> Vec<Snippet> {
    match target.kind {
        ServiceKind::S3 => s3::render(target, variant),
        ServiceKind::OpenStack => openstack::render(target, variant),
        ServiceKind::Api => api::render(target, variant),
    }
}

/// A name that every format accepts as a profile, remote or cloud: lower-case ASCII letters,
/// digits and single hyphens, at most 48 characters.
pub fn profile_name(project_slug: &str, service_name: &str) -> String {
    let mut name = String::new();
    for c in format!("{project_slug}-{service_name}").chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let name: String = name.chars().take(48).collect();
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        "keyport".to_string()
    } else {
        name.to_string()
    }
}

/// `[section]` blocks of `key = value` lines, written by the `rust-ini` crate. Values must
/// already be checked or quoted for the reader (see [`quote`]).
fn ini_file(sections: &[(&str, Vec<(&str, String)>)]) -> String {
    let mut file = ini::Ini::new();
    for (section, pairs) in sections {
        let mut setter = file.with_section(Some(*section));
        for (key, value) in pairs {
            setter.set(*key, value.as_str());
        }
    }
    let mut out = Vec::new();
    file.write_to_opt(
        &mut out,
        ini::WriteOption {
            escape_policy: ini::EscapePolicy::Nothing,
            line_separator: ini::LineSeparator::CR,
            kv_separator: " = ",
        },
    )
    .expect("writing to memory does not fail");
    String::from_utf8(out).expect("the values were UTF-8")
}

/// The lines that ask for a secret without echoing it, for the variants without the secret.
fn shell_prompt(variable: &str, prompt: &str) -> Result<String, Unrepresentable> {
    Ok(format!(
        "printf '%s' {} >&2\nIFS= read -rs {variable}\nprintf '\\n' >&2\nexport {variable}\n",
        quote::shell("prompt", prompt)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_are_safe_everywhere() {
        assert_eq!(profile_name("acme", "Backups (EU)"), "acme-backups-eu");
        assert_eq!(profile_name("", "é"), "keyport");
        assert!(profile_name("a", &"x".repeat(200)).len() <= 48);
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let target = Target {
            name: "p",
            kind: ServiceKind::S3,
            access_key: "AK",
            secret: Some("hunter2"),
            endpoint: None,
            auth_url: None,
            instance_id: "",
            region: "",
            scope: OpenStackScope::default(),
        };
        assert!(!format!("{target:?}").contains("hunter2"));
        let snippets = render(&target, Variant::WithSecret);
        assert!(!format!("{snippets:?}").contains("hunter2"));
    }
}
