//! OpenStack clients: RC files for Keystone v3 (and the deprecated v2.0), clouds.yaml with its
//! secure.yaml, and the Swift CLI.

use super::{Snippet, Target, Unrepresentable, Variant, quote, shell_prompt};

fn auth_url<'a>(target: &'a Target<'_>) -> Result<&'a str, Unrepresentable> {
    target.auth_url.ok_or_else(|| {
        Unrepresentable("This service has no authentication endpoint for this site yet; a project admin adds one (interface auth) on the Services page.".into())
    })
}

/// Keystone's v2.0 URL next to its v3 URL (`…/v3` becomes `…/v2.0`).
fn v2_auth_url(v3: &str) -> String {
    let base = v3.trim_end_matches('/');
    let base = base.strip_suffix("/v3").unwrap_or(base);
    format!("{base}/v2.0")
}

pub fn render(target: &Target<'_>, variant: Variant) -> Vec<Snippet> {
    let with = variant == Variant::WithSecret;
    let name = target.name;
    let mut snippets = vec![Snippet {
        id: "openrc-v3",
        client: "RC file (Keystone v3)",
        file_name: "openrc.sh",
        usage: "source openrc.sh  (then: openstack token issue)".into(),
        body: openrc_v3(target, variant),
        holds_secret: with,
        deprecated: false,
    }];
    snippets.push(Snippet {
        id: "clouds-yaml",
        client: "clouds.yaml",
        file_name: "clouds.yaml",
        usage: if with {
            format!("Save as ~/.config/openstack/clouds.yaml; then: openstack --os-cloud {name} token issue")
        } else {
            format!(
                "Save as ~/.config/openstack/clouds.yaml and the password in secure.yaml beside it; then: openstack --os-cloud {name} token issue"
            )
        },
        body: clouds_yaml(target, variant),
        holds_secret: with,
        deprecated: false,
    });
    if !with {
        snippets.push(Snippet {
            id: "secure-yaml",
            client: "secure.yaml",
            file_name: "secure.yaml",
            usage: "Save as ~/.config/openstack/secure.yaml (chmod 600), beside clouds.yaml."
                .into(),
            body: secure_yaml(target),
            holds_secret: true,
            deprecated: false,
        });
    }
    snippets.push(Snippet {
        id: "swift",
        client: "Swift CLI",
        file_name: "swift-list.sh",
        usage: "bash swift-list.sh  (lists your containers)".into(),
        body: swift(target, variant),
        holds_secret: with,
        deprecated: false,
    });
    snippets.push(Snippet {
        id: "openrc-v2",
        client: "RC file (Keystone v2.0, deprecated)",
        file_name: "openrc-v2.sh",
        usage: "Only for clouds that still serve Keystone v2.0: source openrc-v2.sh".into(),
        body: openrc_v2(target, variant),
        holds_secret: with,
        deprecated: true,
    });
    snippets
}

fn export(variable: &str, field: &str, value: &str) -> Result<String, Unrepresentable> {
    Ok(format!(
        "export {variable}={}\n",
        quote::shell(field, value)?
    ))
}

fn password_lines(target: &Target<'_>, variant: Variant) -> Result<String, Unrepresentable> {
    match variant {
        Variant::WithSecret => export("OS_PASSWORD", "password", target.secret()),
        Variant::WithoutSecret => shell_prompt(
            "OS_PASSWORD",
            &format!("OpenStack password for {}: ", target.access_key),
        ),
    }
}

fn openrc_v3(target: &Target<'_>, variant: Variant) -> Result<String, Unrepresentable> {
    let mut text = String::from(
        "# OpenStack RC file for Keystone v3. Use it with: source openrc.sh\nunset OS_TENANT_ID OS_TENANT_NAME OS_CLOUD\n",
    );
    text += &export("OS_AUTH_URL", "authentication URL", auth_url(target)?)?;
    text += "export OS_IDENTITY_API_VERSION=3\nexport OS_AUTH_TYPE=password\n";
    text += &export("OS_USERNAME", "user name", target.access_key)?;
    text += &password_lines(target, variant)?;
    text += &export("OS_PROJECT_NAME", "project", target.scope.project_name)?;
    text += &export(
        "OS_USER_DOMAIN_NAME",
        "user domain",
        target.scope.user_domain,
    )?;
    text += &export(
        "OS_PROJECT_DOMAIN_NAME",
        "project domain",
        target.scope.project_domain,
    )?;
    if !target.region.is_empty() {
        text += &export("OS_REGION_NAME", "region", target.region)?;
    }
    text += "export OS_INTERFACE=public\n";
    Ok(text)
}

fn openrc_v2(target: &Target<'_>, variant: Variant) -> Result<String, Unrepresentable> {
    let mut text = String::from(
        "# DEPRECATED: Keystone v2.0 was removed from OpenStack in the Queens release (2018).\n\
         # Use the v3 RC file unless your cloud still serves v2.0.\n\
         unset OS_PROJECT_NAME OS_PROJECT_DOMAIN_NAME OS_USER_DOMAIN_NAME OS_CLOUD\n",
    );
    text += &export(
        "OS_AUTH_URL",
        "authentication URL",
        &v2_auth_url(auth_url(target)?),
    )?;
    text += "export OS_IDENTITY_API_VERSION=2.0\n";
    text += &export("OS_USERNAME", "user name", target.access_key)?;
    text += &password_lines(target, variant)?;
    text += &export("OS_TENANT_NAME", "project", target.scope.project_name)?;
    if !target.region.is_empty() {
        text += &export("OS_REGION_NAME", "region", target.region)?;
    }
    Ok(text)
}

/// `clouds.yaml` (or, with only the password, `secure.yaml`): one cloud named after the service.
/// Every value is a quoted scalar (see [`quote::yaml`]).
fn clouds_file(name: &str, auth: &[(&str, &str)], extra: &[(&str, String)]) -> String {
    let mut text = format!("clouds:\n  {name}:\n    auth:\n");
    for (key, value) in auth {
        text += &format!("      {key}: {}\n", quote::yaml(value));
    }
    for (key, value) in extra {
        text += &format!("    {key}: {value}\n");
    }
    text
}

fn clouds_yaml(target: &Target<'_>, variant: Variant) -> Result<String, Unrepresentable> {
    let mut auth = vec![
        ("auth_url", auth_url(target)?),
        ("username", target.access_key),
    ];
    if variant == Variant::WithSecret {
        auth.push(("password", target.secret()));
    }
    auth.extend([
        ("project_name", target.scope.project_name),
        ("user_domain_name", target.scope.user_domain),
        ("project_domain_name", target.scope.project_domain),
    ]);
    let mut extra = Vec::new();
    if !target.region.is_empty() {
        extra.push(("region_name", quote::yaml(target.region)));
    }
    extra.push(("identity_api_version", "3".to_string()));
    extra.push(("interface", "public".to_string()));
    Ok(clouds_file(target.name, &auth, &extra))
}

fn secure_yaml(target: &Target<'_>) -> Result<String, Unrepresentable> {
    Ok(clouds_file(
        target.name,
        &[("password", target.secret())],
        &[],
    ))
}

fn swift(target: &Target<'_>, variant: Variant) -> Result<String, Unrepresentable> {
    let mut text = String::new();
    if variant == Variant::WithoutSecret {
        text += &password_lines(target, variant)?;
    }
    text += &format!(
        "swift --auth-version 3 \\\n  --os-auth-url {} \\\n  --os-username {} \\\n",
        quote::shell("authentication URL", auth_url(target)?)?,
        quote::shell("user name", target.access_key)?,
    );
    if variant == Variant::WithSecret {
        text += &format!(
            "  --os-password {} \\\n",
            quote::shell("password", target.secret())?
        );
    }
    text += &format!(
        "  --os-project-name {} \\\n  --os-user-domain-name {} \\\n  --os-project-domain-name {} \\\n",
        quote::shell("project", target.scope.project_name)?,
        quote::shell("user domain", target.scope.user_domain)?,
        quote::shell("project domain", target.scope.project_domain)?,
    );
    if !target.region.is_empty() {
        text += &format!(
            "  --os-region-name {} \\\n",
            quote::shell("region", target.region)?
        );
    }
    text += "  list\n";
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_urls_sit_beside_v3() {
        assert_eq!(
            v2_auth_url("https://k.example/identity/v3/"),
            "https://k.example/identity/v2.0"
        );
        assert_eq!(v2_auth_url("http://k:5000"), "http://k:5000/v2.0");
    }
}
