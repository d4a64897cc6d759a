//! S3 clients: AWS CLI, environment, rclone, s3cmd, boto3, MinIO client, curl.

use super::{Snippet, Target, Unrepresentable, Variant, ini_file, quote, shell_prompt};

/// The region S3 clients sign for when the endpoint names none.
const DEFAULT_REGION: &str = "us-east-1";
/// SHA-256 of an empty request body.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn region<'a>(target: &'a Target<'_>) -> &'a str {
    if target.region.trim().is_empty() {
        DEFAULT_REGION
    } else {
        target.region
    }
}

pub(super) fn endpoint<'a>(target: &'a Target<'_>) -> Result<&'a str, Unrepresentable> {
    target.endpoint.ok_or_else(|| {
        Unrepresentable("This service has no public endpoint for this site yet; a project admin adds one on the Services page.".into())
    })
}

pub fn render(target: &Target<'_>, variant: Variant) -> Vec<Snippet> {
    let name = target.name;
    let with = variant == Variant::WithSecret;
    let mut snippets = Vec::new();
    if with {
        snippets.push(Snippet {
            id: "aws-credentials",
            client: "AWS CLI credentials",
            file_name: "credentials",
            usage: format!("Save as ~/.aws/credentials, together with the config below; then: aws --profile {name} s3 ls"),
            body: aws_credentials(target),
            holds_secret: true,
            deprecated: false,
        });
    }
    snippets.push(Snippet {
        id: "aws-config",
        client: "AWS CLI config",
        file_name: "config",
        usage: if with {
            format!(
                "Save as ~/.aws/config. AWS CLI before 2.13 ignores endpoint_url: add --endpoint-url {} to each command.",
                target.endpoint.unwrap_or("URL")
            )
        } else {
            format!(
                "Save as ~/.aws/config; with the keys in the environment (see Environment): AWS_PROFILE={name} aws s3 ls"
            )
        },
        body: aws_config(target),
        holds_secret: false,
        deprecated: false,
    });
    snippets.push(Snippet {
        id: "aws-env",
        client: "Environment",
        file_name: "aws-env.sh",
        usage: "source aws-env.sh  (then: aws --endpoint-url \"$AWS_ENDPOINT_URL\" s3 ls)".into(),
        body: aws_env(target, variant),
        holds_secret: with,
        deprecated: false,
    });
    snippets.push(Snippet {
        id: "rclone",
        client: "rclone",
        file_name: "rclone.conf",
        usage: if with {
            format!("Append to ~/.config/rclone/rclone.conf; then: rclone lsd {name}:")
        } else {
            format!("Append to ~/.config/rclone/rclone.conf and source the environment first; then: rclone lsd {name}:")
        },
        body: rclone(target, variant),
        holds_secret: with,
        deprecated: false,
    });
    snippets.push(Snippet {
        id: "s3cmd",
        client: "s3cmd",
        file_name: ".s3cfg",
        usage: if with {
            "Save as ~/.s3cfg; then: s3cmd ls".into()
        } else {
            "Save as ~/.s3cfg and source the environment first; then: s3cmd ls".into()
        },
        body: s3cfg(target, variant),
        holds_secret: with,
        deprecated: false,
    });
    snippets.push(Snippet {
        id: "boto3",
        client: "boto3 (Python)",
        file_name: "s3_example.py",
        usage: "python3 s3_example.py".into(),
        body: boto3(target, variant),
        holds_secret: with,
        deprecated: false,
    });
    snippets.push(Snippet {
        id: "mc",
        client: "MinIO client",
        file_name: "mc-alias.sh",
        usage: format!("sh mc-alias.sh; then: mc ls {name}"),
        body: mc(target, variant),
        holds_secret: with,
        deprecated: false,
    });
    snippets.push(Snippet {
        id: "curl",
        client: "curl",
        file_name: "curl-example.sh",
        usage: "sh curl-example.sh  (curl 7.75 or later; lists your buckets)".into(),
        body: curl(target, variant),
        holds_secret: with,
        deprecated: false,
    });
    snippets
}

fn aws_credentials(target: &Target<'_>) -> Result<String, Unrepresentable> {
    Ok(ini_file(&[(
        target.name,
        vec![
            (
                "aws_access_key_id",
                quote::ini("access key", target.access_key)?.to_string(),
            ),
            (
                "aws_secret_access_key",
                quote::ini("secret", target.secret())?.to_string(),
            ),
        ],
    )]))
}

fn aws_config(target: &Target<'_>) -> Result<String, Unrepresentable> {
    Ok(ini_file(&[(
        &format!("profile {}", target.name),
        vec![
            ("region", quote::ini("region", region(target))?.to_string()),
            (
                "endpoint_url",
                quote::ini("endpoint", endpoint(target)?)?.to_string(),
            ),
        ],
    )]))
}

fn aws_env(target: &Target<'_>, variant: Variant) -> Result<String, Unrepresentable> {
    let mut text = format!(
        "export AWS_ACCESS_KEY_ID={}\n",
        quote::shell("access key", target.access_key)?
    );
    match variant {
        Variant::WithSecret => text.push_str(&format!(
            "export AWS_SECRET_ACCESS_KEY={}\n",
            quote::shell("secret", target.secret())?
        )),
        Variant::WithoutSecret => text.push_str(&shell_prompt(
            "AWS_SECRET_ACCESS_KEY",
            &format!("Secret for {}: ", target.access_key),
        )?),
    }
    text.push_str(&format!(
        "export AWS_DEFAULT_REGION={}\nexport AWS_ENDPOINT_URL={}\n",
        quote::shell("region", region(target))?,
        quote::shell("endpoint", endpoint(target)?)?
    ));
    Ok(text)
}

fn rclone(target: &Target<'_>, variant: Variant) -> Result<String, Unrepresentable> {
    let mut pairs = vec![
        ("type", "s3".to_string()),
        ("provider", "Other".to_string()),
    ];
    match variant {
        Variant::WithSecret => {
            pairs.push(("env_auth", "false".into()));
            pairs.push((
                "access_key_id",
                quote::rclone("access key", target.access_key)?,
            ));
            pairs.push((
                "secret_access_key",
                quote::rclone("secret", target.secret())?,
            ));
        }
        Variant::WithoutSecret => pairs.push(("env_auth", "true".into())),
    }
    pairs.push(("region", quote::rclone("region", region(target))?));
    pairs.push(("endpoint", quote::rclone("endpoint", endpoint(target)?)?));
    Ok(ini_file(&[(target.name, pairs)]))
}

fn s3cfg(target: &Target<'_>, variant: Variant) -> Result<String, Unrepresentable> {
    let url = url::Url::parse(endpoint(target)?)
        .map_err(|_| Unrepresentable("The endpoint is not a valid URL.".into()))?;
    if url.path() != "/" || url.query().is_some() {
        return Err(Unrepresentable(
            "s3cmd needs an endpoint without a path; this service's endpoint has one.".into(),
        ));
    }
    let host = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => return Err(Unrepresentable("The endpoint has no host.".into())),
    };
    let mut pairs = Vec::new();
    if variant == Variant::WithSecret {
        pairs.push(("access_key", quote::s3cfg("access key", target.access_key)?));
        pairs.push(("secret_key", quote::s3cfg("secret", target.secret())?));
    }
    pairs.push(("host_base", quote::s3cfg("endpoint", &host)?));
    // The same host for buckets means path-style requests, which every S3 service answers.
    pairs.push(("host_bucket", quote::s3cfg("endpoint", &host)?));
    pairs.push(("bucket_location", quote::s3cfg("region", region(target))?));
    pairs.push((
        "use_https",
        if url.scheme() == "https" {
            "True"
        } else {
            "False"
        }
        .into(),
    ));
    pairs.push(("signature_v2", "False".into()));
    Ok(ini_file(&[("default", pairs)]))
}

fn boto3(target: &Target<'_>, variant: Variant) -> Result<String, Unrepresentable> {
    let secret = match variant {
        Variant::WithSecret => {
            quote::no_nul("secret", target.secret())?;
            quote::python(target.secret())
        }
        Variant::WithoutSecret => "os.environ[\"AWS_SECRET_ACCESS_KEY\"]".into(),
    };
    Ok(format!(
        "import os\n\nimport boto3\n\ns3 = boto3.client(\n    \"s3\",\n    endpoint_url={},\n    region_name={},\n    \
         aws_access_key_id={},\n    aws_secret_access_key={secret},\n)\n\nfor bucket in s3.list_buckets()[\"Buckets\"]:\n    \
         print(bucket[\"Name\"])\n",
        quote::python(endpoint(target)?),
        quote::python(region(target)),
        quote::python(target.access_key),
    ))
}

fn mc(target: &Target<'_>, variant: Variant) -> Result<String, Unrepresentable> {
    let mut command = format!(
        "mc alias set {} {}",
        target.name,
        quote::shell("endpoint", endpoint(target)?)?
    );
    match variant {
        Variant::WithSecret => command.push_str(&format!(
            " {} {}",
            quote::shell("access key", target.access_key)?,
            quote::shell("secret", target.secret())?
        )),
        Variant::WithoutSecret => {
            command.insert_str(
                0,
                &format!(
                    "# mc asks for the access key ({}) and the secret.\n",
                    target.access_key.replace(['\n', '\r'], " ")
                ),
            );
        }
    }
    command.push_str(" --api S3v4\n");
    Ok(command)
}

fn curl(target: &Target<'_>, variant: Variant) -> Result<String, Unrepresentable> {
    if target.access_key.contains(':') {
        return Err(Unrepresentable(
            "The access key contains a colon, which curl's --user cannot hold.".into(),
        ));
    }
    if region(target).contains(':') {
        return Err(Unrepresentable(
            "The region contains a colon, which curl's --aws-sigv4 cannot hold.".into(),
        ));
    }
    let user = match variant {
        Variant::WithSecret => format!("{}:{}", target.access_key, target.secret()),
        // Without a password, curl asks for it.
        Variant::WithoutSecret => target.access_key.to_string(),
    };
    let endpoint = endpoint(target)?;
    let url = if endpoint.ends_with('/') {
        endpoint.to_string()
    } else {
        format!("{endpoint}/")
    };
    // S3 wants the hash of the (empty) body in a header, which curl before 8.2 does not add.
    Ok(format!(
        "curl --fail --aws-sigv4 {} \\\n  --user {} \\\n  -H 'x-amz-content-sha256: {EMPTY_SHA256}' \\\n  {}\n",
        quote::shell("region", &format!("aws:amz:{}:s3", region(target)))?,
        quote::shell("key", &user)?,
        quote::shell("endpoint", &url)?,
    ))
}
