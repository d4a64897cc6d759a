//! `keyport run`: a program gets its credential without anyone writing it down. The API key in
//! `KEYPORT_API_KEY` is exchanged at `KEYPORT_URL`, the credential's environment snippet (the
//! `AWS_*`, `OS_*` or API variables the portal shows) is fetched through `/api/v1` (audited as
//! that key's), and the command runs with those variables; the secret never touches the disk.

use std::process::{Command, ExitStatus};

use anyhow::{Context, bail};
use serde::Deserialize;
use zeroize::Zeroizing;

/// What to run, with which credential.
pub struct RunRequest<'a> {
    pub project: &'a str,
    /// The service's name or instance id.
    pub service: &'a str,
    /// The credential's name; may be left out when the caller holds exactly one key of the service.
    pub credential: Option<&'a str>,
    pub site: Option<&'a str>,
    pub command: &'a [String],
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Zeroizing<String>,
}

#[derive(Deserialize)]
struct ServiceAnswer {
    instance_id: String,
    name: String,
    kind: String,
}

#[derive(Deserialize)]
struct CredentialAnswer {
    id: String,
    name: String,
    kind: String,
    owner: String,
}

#[derive(Deserialize)]
struct CredentialPage {
    credentials: Vec<CredentialAnswer>,
}

/// The API's error message, or the status.
async fn refused(response: reqwest::Response, what: &str) -> anyhow::Error {
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let message = body["error"]["message"]
        .as_str()
        .or(body["errorMessage"].as_str())
        .unwrap_or("no explanation");
    anyhow::anyhow!("{what}: {status}: {message}")
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    what: &str,
) -> anyhow::Result<T> {
    let response = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| what.to_string())?;
    if !response.status().is_success() {
        return Err(refused(response, what).await);
    }
    response
        .json()
        .await
        .with_context(|| format!("{what}: an answer Keyport would not give"))
}

/// Which environment snippet sets a credential's variables.
fn environment_snippet(service_kind: &str, credential_kind: &str) -> &'static str {
    match (service_kind, credential_kind) {
        (_, "ec2") | ("s3", _) => "aws-env",
        ("openstack", _) => "openrc-v3",
        _ => "api-env",
    }
}

/// The variables an environment snippet exports: its `export NAME=VALUE` lines, read with a
/// shell's quoting rules.
pub fn exported(snippet: &str) -> anyhow::Result<Vec<(String, Zeroizing<String>)>> {
    let mut variables = Vec::new();
    for line in snippet.lines().map(str::trim) {
        if !line.starts_with("export ") {
            continue;
        }
        let words = shlex::split(line).context("an export line Keyport would not write")?;
        let Some((name, value)) = words.get(1).and_then(|w| w.split_once('=')) else {
            bail!("an export line Keyport would not write");
        };
        variables.push((name.to_string(), Zeroizing::new(value.to_string())));
    }
    Ok(variables)
}

/// Runs the command with the credential's variables; returns its exit status.
pub async fn run(url: &str, api_key: &str, request: RunRequest<'_>) -> anyhow::Result<ExitStatus> {
    let Some((program, arguments)) = request.command.split_first() else {
        bail!("name the command to run after --");
    };
    let url = url.trim_end_matches('/');
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{url}/identity/token"))
        .form(&[
            ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
            ("apikey", api_key),
        ])
        .send()
        .await
        .with_context(|| format!("cannot reach Keyport at {url}"))?;
    if !response.status().is_success() {
        return Err(refused(response, "the API key was refused").await);
    }
    let token: TokenAnswer = response
        .json()
        .await
        .context("an unexpected token answer")?;
    let token = token.access_token.as_str();
    let project = urlencode(request.project);
    let base = format!("{url}/api/v1/projects/{project}/services");
    let services: Vec<ServiceAnswer> = get_json(&http, &base, token, "the services").await?;
    let service = services
        .iter()
        .find(|s| s.name == request.service || s.instance_id == request.service)
        .with_context(|| {
            format!(
                "the project {} has no service {}",
                request.project, request.service
            )
        })?;
    let listing = format!("{base}/{}/credentials?limit=200", service.instance_id);
    let page: CredentialPage = get_json(&http, &listing, token, "the credentials").await?;
    let credential = choose(&page.credentials, request.credential)?;
    let mut config = format!(
        "{url}/api/v1/projects/{project}/credentials/{}/config?variant=with&client={}",
        credential.id,
        environment_snippet(&service.kind, &credential.kind)
    );
    if let Some(site) = request.site {
        config.push_str(&format!("&site={}", urlencode(site)));
    }
    let response = http
        .get(&config)
        .bearer_auth(token)
        .send()
        .await
        .context("the configuration")?;
    if !response.status().is_success() {
        return Err(refused(response, "the configuration").await);
    }
    let snippet = Zeroizing::new(response.text().await.context("the configuration")?);
    let variables = exported(&snippet)?;
    let status = Command::new(program)
        .args(arguments)
        .envs(
            variables
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        )
        .status()
        .with_context(|| format!("cannot run {program}"))?;
    Ok(status)
}

/// The credential named, or the caller's only one.
fn choose<'a>(
    credentials: &'a [CredentialAnswer],
    name: Option<&str>,
) -> anyhow::Result<&'a CredentialAnswer> {
    if let Some(name) = name {
        // The caller's own credential of that name first: an admin sees others' keys too.
        let named = |c: &&CredentialAnswer| c.name == name;
        return credentials
            .iter()
            .filter(|c| c.owner == "me")
            .find(named)
            .or_else(|| credentials.iter().find(named))
            .with_context(|| format!("no credential {name} that this key may see"));
    }
    let own: Vec<&CredentialAnswer> = credentials.iter().filter(|c| c.owner == "me").collect();
    match own.as_slice() {
        [only] => Ok(only),
        [] => bail!("this key holds no credential of the service; name one with --credential"),
        _ => bail!("this key holds several credentials of the service; name one with --credential"),
    }
}

fn urlencode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_variables_of_every_environment_snippet() {
        let snippet = "# comment\nunset OS_TENANT_ID\nexport OS_AUTH_URL='http://k:5000/v3'\nexport OS_PASSWORD='it'\"'\"'s'\nexport AWS_REGION=us-east-1\n";
        let variables: Vec<(String, String)> = exported(snippet)
            .unwrap()
            .into_iter()
            .map(|(n, v)| (n, v.to_string()))
            .collect();
        assert_eq!(
            variables,
            [
                ("OS_AUTH_URL".to_string(), "http://k:5000/v3".to_string()),
                ("OS_PASSWORD".to_string(), "it's".to_string()),
                ("AWS_REGION".to_string(), "us-east-1".to_string()),
            ]
        );
        assert!(exported("export 'unterminated").is_err());
    }

    #[test]
    fn each_kind_of_credential_has_its_environment() {
        assert_eq!(environment_snippet("s3", "key"), "aws-env");
        assert_eq!(environment_snippet("openstack", "ec2"), "aws-env");
        assert_eq!(environment_snippet("openstack", "key"), "openrc-v3");
        assert_eq!(environment_snippet("api", "key"), "api-env");
    }
}
