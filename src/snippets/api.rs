//! API keys: the environment, curl, and IBM's Python SDK for services that take IAM tokens.
//!
//! A service with an authentication endpoint takes its keys as IBM Cloud's services do: the key
//! is exchanged at that token URL for a bearer token, and each call carries the token and the
//! service's instance id. A service without one takes the key as HTTP Basic credentials.

use super::{Snippet, Target, Unrepresentable, Variant, quote, s3::endpoint, shell_prompt};

/// The grant an IAM token endpoint exchanges an API key with.
const APIKEY_GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";
/// The path IBM's SDKs append to their authenticator's URL.
const TOKEN_PATH: &str = "/identity/token";
/// The header that names the service instance a call is for.
const INSTANCE_HEADER: &str = "X-Instance-Id";

pub fn render(target: &Target<'_>, variant: Variant) -> Vec<Snippet> {
    let with = variant == Variant::WithSecret;
    let key = format!("${}_KEY", env_prefix(target));
    let mut snippets = vec![Snippet {
        id: "api-env",
        client: "Environment",
        file_name: "api-env.sh",
        usage: "source api-env.sh".into(),
        body: api_env(target, variant),
        holds_secret: with,
        deprecated: false,
    }];
    let Some(token_url) = target.auth_url else {
        snippets.push(Snippet {
            id: "api-curl",
            client: "curl",
            file_name: "api-curl.sh",
            usage: "sh api-curl.sh".into(),
            body: basic_curl(target, variant),
            holds_secret: with,
            deprecated: false,
        });
        return snippets;
    };
    snippets.push(Snippet {
        id: "api-curl",
        client: "curl",
        file_name: "api-curl.sh",
        usage: if with {
            "bash api-curl.sh  (exchanges the key for a token, then calls the service with it)"
                .into()
        } else {
            format!("bash api-curl.sh  (takes the key from {key}, see Environment, or asks for it)")
        },
        body: token_curl(target, token_url, variant),
        holds_secret: with,
        deprecated: false,
    });
    snippets.push(Snippet {
        id: "api-python",
        client: "IBM Cloud SDK (Python)",
        file_name: "api_example.py",
        usage: if with {
            "pip install ibm-cloud-sdk-core; then: python3 api_example.py".into()
        } else {
            format!(
                "pip install ibm-cloud-sdk-core; then, with {key} set (see Environment): python3 api_example.py"
            )
        },
        body: python(target, token_url, variant),
        holds_secret: with,
        deprecated: false,
    });
    snippets
}

/// `ACME_PAYMENTS` for the profile `acme-payments`.
fn env_prefix(target: &Target<'_>) -> String {
    let prefix = target.name.to_ascii_uppercase().replace('-', "_");
    if prefix.starts_with(|c: char| c.is_ascii_digit()) {
        format!("KP_{prefix}")
    } else {
        prefix
    }
}

fn api_env(target: &Target<'_>, variant: Variant) -> Result<String, Unrepresentable> {
    let prefix = env_prefix(target);
    let mut text = format!(
        "export {prefix}_URL={}\n",
        quote::shell("endpoint", endpoint(target)?)?
    );
    if let Some(token_url) = target.auth_url {
        text.push_str(&format!(
            "export {prefix}_TOKEN_URL={}\nexport {prefix}_INSTANCE_ID={}\n",
            quote::shell("token URL", token_url)?,
            quote::shell("instance id", target.instance_id)?
        ));
    }
    text.push_str(&format!(
        "export {prefix}_KEY_ID={}\n",
        quote::shell("key id", target.access_key)?
    ));
    match variant {
        Variant::WithSecret => text.push_str(&format!(
            "export {prefix}_KEY={}\n",
            quote::shell("key", target.secret())?
        )),
        Variant::WithoutSecret => text.push_str(&shell_prompt(
            &format!("{prefix}_KEY"),
            &format!("Key for {}: ", target.access_key),
        )?),
    }
    Ok(text)
}

/// The key as HTTP Basic credentials, for a service without a token endpoint.
fn basic_curl(target: &Target<'_>, variant: Variant) -> Result<String, Unrepresentable> {
    if target.access_key.contains(':') {
        return Err(Unrepresentable(
            "The key id contains a colon, which curl's --user cannot hold.".into(),
        ));
    }
    let user = match variant {
        Variant::WithSecret => format!("{}:{}", target.access_key, target.secret()),
        Variant::WithoutSecret => target.access_key.to_string(),
    };
    Ok(format!(
        "curl --fail --user {} {}\n",
        quote::shell("key", &user)?,
        quote::shell("endpoint", endpoint(target)?)?
    ))
}

/// The key exchanged at `token_url` for a bearer token, then the call with the token and the
/// instance id. A bash script: the variant without the key asks for it with `read -s`.
fn token_curl(
    target: &Target<'_>,
    token_url: &str,
    variant: Variant,
) -> Result<String, Unrepresentable> {
    let key = format!("{}_KEY", env_prefix(target));
    let mut text = match variant {
        Variant::WithSecret => format!("{key}={}\n", quote::shell("key", target.secret())?),
        Variant::WithoutSecret => {
            let prompt = shell_prompt(&key, &format!("Key for {}: ", target.access_key))?;
            let mut text = format!("if [ -z \"${{{key}:-}}\" ]; then\n");
            for line in prompt.lines() {
                text.push_str(&format!("  {line}\n"));
            }
            text.push_str("fi\n");
            text
        }
    };
    let instance = quote::header("instance id", target.instance_id)?;
    // printf is a shell builtin: the key reaches curl on standard input, never on a command
    // line that other users of the machine can list; `<<<` would add a line break to it.
    text.push_str(&format!(
        "TOKEN=$(printf '%s' \"${key}\" | curl -sS --fail -X POST {} \\\n  \
         --data-urlencode grant_type={APIKEY_GRANT} --data-urlencode apikey@- \\\n  \
         | python3 -c 'import json, sys; print(json.load(sys.stdin)[\"access_token\"])')\n\
         curl -sS --fail -H \"Authorization: Bearer $TOKEN\" -H {} {}\n",
        quote::shell("token URL", token_url)?,
        quote::shell("instance id", &format!("{INSTANCE_HEADER}: {instance}"))?,
        quote::shell("endpoint", endpoint(target)?)?,
    ));
    Ok(text)
}

/// IBM's `ibm-cloud-sdk-core`: an `IAMAuthenticator` for the token URL and a `BaseService` for
/// the service URL, which sends the instance id with every call.
fn python(
    target: &Target<'_>,
    token_url: &str,
    variant: Variant,
) -> Result<String, Unrepresentable> {
    let iam_url = token_url.strip_suffix(TOKEN_PATH).ok_or_else(|| {
        Unrepresentable(format!(
            "IBM's SDK appends {TOKEN_PATH} to the token service's address, and this service's authentication endpoint does not end in it. Use the curl example."
        ))
    })?;
    if iam_url.is_empty() {
        return Err(Unrepresentable(format!(
            "The authentication endpoint has nothing before {TOKEN_PATH}; IBM's SDK would send the key to IBM Cloud's own IAM instead."
        )));
    }
    let service_url = endpoint(target)?;
    if sdk_refuses(service_url) {
        return Err(Unrepresentable(
            "The endpoint starts or ends with a curly bracket or a double quote, which IBM's SDK refuses.".into(),
        ));
    }
    let instance = quote::header("instance id", target.instance_id)?;
    let (import, apikey) = match variant {
        Variant::WithSecret => {
            quote::no_nul("key", target.secret())?;
            if sdk_refuses(target.secret()) {
                return Err(Unrepresentable(
                    "The key starts or ends with a curly bracket or a double quote, which IBM's SDK refuses. Use the environment variant instead.".into(),
                ));
            }
            ("", quote::python(target.secret()))
        }
        Variant::WithoutSecret => (
            "import os\n",
            format!("os.environ[\"{}_KEY\"]", env_prefix(target)),
        ),
    };
    Ok(format!(
        "import json\n{import}\nfrom ibm_cloud_sdk_core import BaseService\n\
         from ibm_cloud_sdk_core.authenticators import IAMAuthenticator\n\n\
         # The SDK appends {TOKEN_PATH} to url.\n\
         authenticator = IAMAuthenticator(\n    apikey={apikey},\n    url={},\n)\n\
         service = BaseService(service_url={}, authenticator=authenticator)\n\
         service.set_default_headers({{\"{INSTANCE_HEADER}\": {}}})\n\n\
         # The SDK drops the service URL's trailing slash; an empty path calls the URL itself.\n\
         response = service.send(service.prepare_request(\"GET\", \"\"))\n\
         result = response.get_result()\n\
         if isinstance(result, (dict, list)):\n    print(json.dumps(result, indent=2))\n\
         elif result is not None:\n    print(result.text)\n",
        quote::python(iam_url),
        quote::python(service_url),
        quote::python(instance),
    ))
}

/// What IBM's SDK refuses as an API key or a service URL: a value that starts with `{` or `"`,
/// or ends with `}` or `"` (it takes these for a pasted JSON fragment).
fn sdk_refuses(value: &str) -> bool {
    value.starts_with(['{', '"']) || value.ends_with(['}', '"'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{domain::services::ServiceKind, snippets::OpenStackScope};

    fn target(auth_url: Option<&str>) -> Target<'_> {
        Target {
            name: "team-reports",
            kind: ServiceKind::Api,
            access_key: "reports",
            secret: Some("kp_secret"),
            endpoint: Some("https://reports.example.org/v1"),
            auth_url,
            instance_id: "0b9d6c2e",
            region: "",
            scope: OpenStackScope::default(),
        }
    }

    fn body(snippets: &[Snippet], id: &str) -> Result<String, Unrepresentable> {
        snippets.iter().find(|s| s.id == id).unwrap().body.clone()
    }

    #[test]
    fn without_a_token_url_the_key_goes_as_basic_credentials() {
        let snippets = render(&target(None), Variant::WithSecret);
        let ids: Vec<_> = snippets.iter().map(|s| s.id).collect();
        assert_eq!(ids, ["api-env", "api-curl"]);
        assert_eq!(
            body(&snippets, "api-curl").unwrap(),
            "curl --fail --user reports:kp_secret https://reports.example.org/v1\n"
        );
        assert!(!body(&snippets, "api-env").unwrap().contains("TOKEN_URL"));
    }

    #[test]
    fn with_a_token_url_the_key_is_exchanged_and_the_instance_named() {
        let token_url = "https://iam.example.org/identity/token";
        let snippets = render(&target(Some(token_url)), Variant::WithSecret);
        let ids: Vec<_> = snippets.iter().map(|s| s.id).collect();
        assert_eq!(ids, ["api-env", "api-curl", "api-python"]);
        let env = body(&snippets, "api-env").unwrap();
        assert!(env.contains(&format!("export TEAM_REPORTS_TOKEN_URL={token_url}\n")));
        assert!(env.contains("export TEAM_REPORTS_INSTANCE_ID=0b9d6c2e\n"));
        let curl = body(&snippets, "api-curl").unwrap();
        assert!(curl.contains("'X-Instance-Id: 0b9d6c2e'"), "{curl}");
        let python = body(&snippets, "api-python").unwrap();
        assert!(
            python.contains("url=\"https://iam.example.org\""),
            "{python}"
        );
    }

    #[test]
    fn the_sdk_is_not_given_a_token_url_it_would_change() {
        for token_url in ["https://iam.example.org/oauth/token", "/identity/token"] {
            let snippets = render(&target(Some(token_url)), Variant::WithoutSecret);
            let reason = body(&snippets, "api-python").unwrap_err().0;
            assert!(reason.contains("/identity/token"), "{reason}");
            assert!(body(&snippets, "api-curl").is_ok());
        }
    }

    #[test]
    fn an_instance_id_that_would_break_the_header_is_refused() {
        let mut target = target(Some("https://iam.example.org/identity/token"));
        target.instance_id = "x\r\nAuthorization: Basic eA==";
        let snippets = render(&target, Variant::WithSecret);
        assert!(body(&snippets, "api-curl").is_err());
        assert!(body(&snippets, "api-python").is_err());
        assert!(body(&snippets, "api-env").is_ok());
    }
}
