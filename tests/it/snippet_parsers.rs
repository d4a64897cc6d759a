//! Property tests of the snippet renderers: hostile values (quotes, backslashes, `$`, backticks,
//! line breaks, `#`, `;`, `%`, non-ASCII, YAML and shell syntax) in every field, service names
//! and endpoint URLs among them, go through every renderer, and the parser each client really
//! uses (bash and dash, botocore's configparser, s3cmd's own parser, rclone, PyYAML, Python) must
//! read back exactly the input; or the renderer must refuse, for a reason that a field the
//! snippet uses really has. Sourcing runs nothing: the shell snippets that call a client (`mc`,
//! `curl`, `swift`) run with that client stubbed, and the arguments it would get are compared.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use keyport::{
    domain::services::ServiceKind,
    snippets::{self, OpenStackScope, Target, Variant},
};
use proptest::{
    prelude::*,
    strategy::ValueTree,
    test_runner::{Config, TestRng, TestRunner},
};
use serde_json::Value;

const CASES: usize = 64;

#[derive(Debug, Clone)]
struct Case {
    /// The service's name as typed, and the profile name Keyport makes of it.
    service_name: String,
    name: String,
    endpoint: String,
    auth_url: String,
    /// Where an API service's key is exchanged for a token.
    token_url: String,
    instance_id: String,
    access_key: String,
    secret: String,
    region: String,
    project: String,
    user_domain: String,
    project_domain: String,
}

/// Pieces that mean something to some format; joined at random.
fn piece() -> impl Strategy<Value = String> {
    const SPECIAL: &[&str] = &[
        "'",
        "\"",
        "\\",
        "$",
        "`",
        "#",
        ";",
        "%",
        "=",
        ":",
        "[",
        "]",
        "{",
        "}",
        " ",
        "!",
        "*",
        "&",
        "|",
        "<",
        ">",
        "~",
        ",",
        "é",
        "中文",
        "🙂",
        "\u{a0}",
        "\u{2028}",
        "$(touch pwned)",
        "`touch pwned`",
        "${HOME}",
        "%(here)s",
        "- ",
        "? ",
        "yes",
        "null",
        "0x1F",
        "&anchor ",
        "*alias",
        "!!str ",
        "\"\"\"",
        "'''",
        "\\n",
    ];
    prop_oneof![
        3 => proptest::sample::select(SPECIAL).prop_map(str::to_string),
        1 => "[a-zA-Z0-9]{1,4}",
    ]
}

fn control() -> impl Strategy<Value = String> {
    proptest::sample::select(&["\n", "\r", "\t", "\r\n", "\u{1f}", "\u{85}", "\u{0}"][..])
        .prop_map(str::to_string)
}

/// Mostly printable hostile values; one in four also holds control characters.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec(piece(), 0..8).prop_map(|p| p.concat()),
        1 => proptest::collection::vec(prop_oneof![piece(), control()], 1..8).prop_map(|p| p.concat()),
    ]
}

/// A URL as an admin may type it: a plain base, or one with a path and hostile text after it.
fn url(path: &'static str) -> impl Strategy<Value = String> {
    let base = proptest::sample::select(
        &[
            "http://127.0.0.1:9000",
            "https://s3.example.org",
            "http://[::1]:8080",
            "https://Keystone.Example.org:5000",
        ][..],
    );
    let tail = prop_oneof![
        2 => Just(String::new()),
        1 => Just("/".to_string()),
        1 => Just(path.to_string()),
        2 => value().prop_map(move |v| format!("{path}/{v}")),
        1 => value(),
    ];
    (base, tail).prop_map(|(base, tail)| format!("{base}{tail}"))
}

/// A token URL: mostly one that ends in `/identity/token`, which IBM's SDK can be given, with
/// hostile text before it; or any URL.
fn token_url() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => (url(""), value()).prop_map(|(base, v)| format!("{base}{v}/identity/token")),
        1 => url("/identity/token"),
    ]
}

/// Keyport's instance ids are UUIDs; hostile ones check the header rule.
fn instance_id() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("0b9d6c2e-8f0a-4c1e-9d0f-3a6e2b7c5d41".to_string()),
        2 => value(),
    ]
}

fn cases() -> Vec<Case> {
    let fields = (value(), value(), value(), value(), value(), value());
    let names = (value(), url("/s3"), url("/v3"), token_url(), instance_id());
    let strategy = (fields, names).prop_map(
        |(
            (access_key, secret, region, project, user_domain, project_domain),
            (service_name, endpoint, auth_url, token_url, instance_id),
        )| Case {
            name: snippets::profile_name("team", &service_name),
            service_name,
            endpoint,
            auth_url,
            token_url,
            instance_id,
            access_key,
            secret,
            region,
            project,
            user_domain,
            project_domain,
        },
    );
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    (0..CASES)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// The services each case is rendered for: an API service both without an authentication
/// endpoint (HTTP Basic) and with one (a token URL).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Setup {
    S3,
    OpenStack,
    BasicApi,
    TokenApi,
}

impl Setup {
    const ALL: [Setup; 4] = [
        Setup::S3,
        Setup::OpenStack,
        Setup::BasicApi,
        Setup::TokenApi,
    ];
}

fn target(case: &Case, setup: Setup) -> Target<'_> {
    let (kind, auth_url) = match setup {
        Setup::S3 => (ServiceKind::S3, Some(case.auth_url.as_str())),
        Setup::OpenStack => (ServiceKind::OpenStack, Some(case.auth_url.as_str())),
        Setup::BasicApi => (ServiceKind::Api, None),
        Setup::TokenApi => (ServiceKind::Api, Some(case.token_url.as_str())),
    };
    Target {
        name: &case.name,
        kind,
        access_key: &case.access_key,
        secret: Some(&case.secret),
        endpoint: Some(&case.endpoint),
        auth_url,
        instance_id: &case.instance_id,
        region: &case.region,
        scope: OpenStackScope {
            project_name: &case.project,
            user_domain: &case.user_domain,
            project_domain: &case.project_domain,
        },
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Reader {
    /// Sourced by bash; variables and stubbed commands' arguments are read back.
    Bash,
    /// Run by `sh` (dash): stubbed commands' arguments are read back.
    Dash,
    Ini,
    S3cfg,
    Yaml,
    /// The keyword arguments of boto3's `client(...)` call.
    Python,
    /// Every call's arguments, by the called function's name (IBM's SDK).
    PythonCalls,
    Rclone,
}

/// One rendered file and what its reader must see in it.
struct Check {
    what: String,
    /// The profile, remote or cloud name the snippet was rendered with.
    profile: String,
    path: PathBuf,
    reader: Reader,
    /// `a/b/c` paths into the parsed document (for shell: variable names) and their values.
    expect: Vec<(String, String)>,
    /// For shell: the arguments each stubbed client receives, in order (and, after them, what
    /// curl reads from standard input for `apikey@-`).
    calls: Vec<Vec<String>>,
    stdin: String,
}

fn s3_region(case: &Case) -> &str {
    if case.region.trim().is_empty() {
        "us-east-1"
    } else {
        &case.region
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What each snippet must tell its client, for `case`.
fn expectation(
    id: &str,
    case: &Case,
    setup: Setup,
    variant: Variant,
) -> (Reader, Vec<(String, String)>, Vec<Vec<String>>) {
    let with = variant == Variant::WithSecret;
    let (ak, secret, region) = (
        case.access_key.as_str(),
        case.secret.as_str(),
        s3_region(case),
    );
    let argv = |args: &[&str]| vec![args.iter().map(|a| a.to_string()).collect()];
    let (profile, endpoint, auth_url) = (
        case.name.as_str(),
        case.endpoint.as_str(),
        case.auth_url.as_str(),
    );
    let prefix = case.name.to_ascii_uppercase().replace('-', "_");
    match id {
        "aws-credentials" => (
            Reader::Ini,
            pairs(&[
                (&format!("{profile}/aws_access_key_id"), ak),
                (&format!("{profile}/aws_secret_access_key"), secret),
            ]),
            vec![],
        ),
        "aws-config" => (
            Reader::Ini,
            pairs(&[
                (&format!("profile {profile}/region"), region),
                (&format!("profile {profile}/endpoint_url"), endpoint),
            ]),
            vec![],
        ),
        "aws-env" => (
            Reader::Bash,
            pairs(&[
                ("AWS_ACCESS_KEY_ID", ak),
                ("AWS_SECRET_ACCESS_KEY", secret),
                ("AWS_DEFAULT_REGION", region),
                ("AWS_ENDPOINT_URL", endpoint),
            ]),
            vec![],
        ),
        "rclone" => {
            let mut expect = vec![("endpoint", endpoint), ("region", region)];
            if with {
                expect.extend([("access_key_id", ak), ("secret_access_key", secret)]);
            } else {
                expect.push(("env_auth", "true"));
            }
            (Reader::Rclone, pairs(&expect), vec![])
        }
        "s3cmd" => {
            let host = s3cmd_host(endpoint).expect("s3cmd renders only an endpoint it can hold");
            let mut expect = vec![("host_base", host.as_str()), ("bucket_location", region)];
            if with {
                expect.extend([("access_key", ak), ("secret_key", secret)]);
            }
            (Reader::S3cfg, pairs(&expect), vec![])
        }
        "boto3" => {
            let secret = if with {
                secret
            } else {
                "os.environ['AWS_SECRET_ACCESS_KEY']"
            };
            (
                Reader::Python,
                pairs(&[
                    ("endpoint_url", endpoint),
                    ("region_name", region),
                    ("aws_access_key_id", ak),
                    ("aws_secret_access_key", secret),
                ]),
                vec![],
            )
        }
        "mc" if with => (
            Reader::Dash,
            vec![],
            argv(&[
                "mc", "alias", "set", profile, endpoint, ak, secret, "--api", "S3v4",
            ]),
        ),
        "mc" => (
            Reader::Dash,
            vec![],
            argv(&["mc", "alias", "set", profile, endpoint, "--api", "S3v4"]),
        ),
        "curl" => {
            let user = if with {
                format!("{ak}:{secret}")
            } else {
                ak.to_string()
            };
            (
                Reader::Dash,
                vec![],
                argv(&[
                    "curl",
                    "--fail",
                    "--aws-sigv4",
                    &format!("aws:amz:{region}:s3"),
                    "--user",
                    &user,
                    "-H",
                    "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                    &curl_url(endpoint),
                ]),
            )
        }
        "api-env" => {
            let mut expect = vec![
                (format!("{prefix}_URL"), endpoint.to_string()),
                (format!("{prefix}_KEY_ID"), ak.to_string()),
                (format!("{prefix}_KEY"), secret.to_string()),
            ];
            if setup == Setup::TokenApi {
                expect.push((format!("{prefix}_TOKEN_URL"), case.token_url.clone()));
                expect.push((format!("{prefix}_INSTANCE_ID"), case.instance_id.clone()));
            }
            (Reader::Bash, expect, vec![])
        }
        "api-curl" if setup == Setup::TokenApi => (
            Reader::Bash,
            pairs(&[(&format!("{prefix}_KEY"), secret)]),
            vec![
                strings(&[
                    "curl",
                    "-sS",
                    "--fail",
                    "-X",
                    "POST",
                    &case.token_url,
                    "--data-urlencode",
                    "grant_type=urn:ibm:params:oauth:grant-type:apikey",
                    "--data-urlencode",
                    "apikey@-",
                    &format!("stdin:{secret}"),
                ]),
                strings(&["python3", "-c", ACCESS_TOKEN_SCRIPT]),
                strings(&[
                    "curl",
                    "-sS",
                    "--fail",
                    "-H",
                    &format!("Authorization: Bearer {STUB_TOKEN}"),
                    "-H",
                    &format!("X-Instance-Id: {}", case.instance_id),
                    endpoint,
                ]),
            ],
        ),
        "api-python" => {
            let apikey = if with {
                secret.to_string()
            } else {
                format!("os.environ['{prefix}_KEY']")
            };
            let iam_url = case
                .token_url
                .strip_suffix("/identity/token")
                .expect("rendered only for a token URL the SDK can be given");
            let expect = vec![
                ("IAMAuthenticator/apikey".to_string(), apikey),
                ("IAMAuthenticator/url".to_string(), iam_url.to_string()),
                ("BaseService/service_url".to_string(), endpoint.to_string()),
                (
                    "set_default_headers/0/X-Instance-Id".to_string(),
                    case.instance_id.clone(),
                ),
            ];
            (Reader::PythonCalls, expect, vec![])
        }
        "api-curl" => {
            let user = if with {
                format!("{ak}:{secret}")
            } else {
                ak.to_string()
            };
            (
                Reader::Dash,
                vec![],
                argv(&["curl", "--fail", "--user", &user, endpoint]),
            )
        }
        "openrc-v3" => {
            let mut expect = vec![
                ("OS_AUTH_URL", auth_url),
                ("OS_IDENTITY_API_VERSION", "3"),
                ("OS_USERNAME", ak),
                ("OS_PASSWORD", secret),
                ("OS_PROJECT_NAME", case.project.as_str()),
                ("OS_USER_DOMAIN_NAME", case.user_domain.as_str()),
                ("OS_PROJECT_DOMAIN_NAME", case.project_domain.as_str()),
            ];
            if !case.region.is_empty() {
                expect.push(("OS_REGION_NAME", &case.region));
            }
            (Reader::Bash, pairs(&expect), vec![])
        }
        "openrc-v2" => {
            let v2 = v2_auth_url(auth_url);
            let mut expect = vec![
                ("OS_AUTH_URL", v2.as_str()),
                ("OS_USERNAME", ak),
                ("OS_PASSWORD", secret),
                ("OS_TENANT_NAME", case.project.as_str()),
                ("OS_PROJECT_NAME", ""),
            ];
            if !case.region.is_empty() {
                expect.push(("OS_REGION_NAME", &case.region));
            }
            (Reader::Bash, pairs(&expect), vec![])
        }
        "clouds-yaml" => {
            let base = format!("clouds/{profile}");
            let mut expect = vec![
                (format!("{base}/auth/auth_url"), auth_url.to_string()),
                (format!("{base}/auth/username"), ak.to_string()),
                (format!("{base}/auth/project_name"), case.project.clone()),
                (
                    format!("{base}/auth/user_domain_name"),
                    case.user_domain.clone(),
                ),
                (
                    format!("{base}/auth/project_domain_name"),
                    case.project_domain.clone(),
                ),
            ];
            if with {
                expect.push((format!("{base}/auth/password"), secret.to_string()));
            }
            if !case.region.is_empty() {
                expect.push((format!("{base}/region_name"), case.region.clone()));
            }
            (Reader::Yaml, expect, vec![])
        }
        "secure-yaml" => (
            Reader::Yaml,
            vec![(
                format!("clouds/{profile}/auth/password"),
                secret.to_string(),
            )],
            vec![],
        ),
        "swift" => {
            let mut args = vec![
                "swift",
                "--auth-version",
                "3",
                "--os-auth-url",
                auth_url,
                "--os-username",
                ak,
            ];
            if with {
                args.extend(["--os-password", secret]);
            }
            args.extend([
                "--os-project-name",
                &case.project,
                "--os-user-domain-name",
                &case.user_domain,
                "--os-project-domain-name",
                &case.project_domain,
            ]);
            if !case.region.is_empty() {
                args.extend(["--os-region-name", &case.region]);
            }
            args.push("list");
            let expect = if with {
                vec![]
            } else {
                pairs(&[("OS_PASSWORD", secret)])
            };
            (Reader::Bash, expect, argv(&args))
        }
        other => panic!("no expectation for snippet {other}"),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// What the curl example pipes the token answer through.
const ACCESS_TOKEN_SCRIPT: &str =
    r#"import json, sys; print(json.load(sys.stdin)["access_token"])"#;
/// What the stubbed `python3` prints as the token.
const STUB_TOKEN: &str = "stub-token";

/// What s3cmd's `host_base` must be for `endpoint`: its host and port, when it is a URL without
/// a path or query (s3cmd can hold nothing else).
fn s3cmd_host(endpoint: &str) -> Option<String> {
    let url = url::Url::parse(endpoint).ok()?;
    if url.path() != "/" || url.query().is_some() {
        return None;
    }
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => Some(format!("{host}:{port}")),
        (Some(host), None) => Some(host.to_string()),
        (None, _) => None,
    }
}

/// The URL curl is given: the endpoint with a trailing slash.
fn curl_url(endpoint: &str) -> String {
    if endpoint.ends_with('/') {
        endpoint.to_string()
    } else {
        format!("{endpoint}/")
    }
}

/// Keystone's v2.0 URL beside its v3 URL (`.../v3` becomes `.../v2.0`).
fn v2_auth_url(v3: &str) -> String {
    let base = v3.trim_end_matches('/');
    format!("{}/v2.0", base.strip_suffix("/v3").unwrap_or(base))
}

/// The fields snippet `id` writes, by name, for `case`.
fn used_fields<'a>(
    id: &str,
    case: &'a Case,
    setup: Setup,
    variant: Variant,
) -> Vec<(&'static str, &'a str)> {
    let with = variant == Variant::WithSecret;
    let mut fields = vec![("access key", case.access_key.as_str())];
    if with || id == "secure-yaml" {
        fields.push(("secret", &case.secret));
    }
    let s3 = [
        ("endpoint", case.endpoint.as_str()),
        ("region", s3_region(case)),
    ];
    let openstack = [
        ("auth url", case.auth_url.as_str()),
        ("project", &case.project),
        ("user domain", &case.user_domain),
        ("project domain", &case.project_domain),
        ("region", &case.region),
    ];
    match id {
        "aws-credentials" => {}
        "aws-config" => fields = s3.to_vec(),
        "aws-env" | "rclone" | "s3cmd" | "boto3" | "curl" => fields.extend(s3),
        "mc" => fields.push(("endpoint", &case.endpoint)),
        "api-env" | "api-curl" if setup == Setup::TokenApi => fields.extend([
            ("endpoint", case.endpoint.as_str()),
            ("token url", &case.token_url),
            ("instance id", &case.instance_id),
        ]),
        "api-env" | "api-curl" => fields.push(("endpoint", &case.endpoint)),
        "api-python" => fields.extend([
            ("endpoint", case.endpoint.as_str()),
            ("token url", &case.token_url),
            ("instance id", &case.instance_id),
        ]),
        "openrc-v3" | "clouds-yaml" | "swift" => fields.extend(openstack),
        "openrc-v2" => fields.extend([
            ("auth url", case.auth_url.as_str()),
            ("project", &case.project),
            ("region", &case.region),
        ]),
        "secure-yaml" => fields.retain(|(name, _)| *name == "secret"),
        other => panic!("no fields known for snippet {other}"),
    }
    fields
}

/// A refusal is right only if a field the snippet writes really cannot be written in its
/// format: a reason in a field the snippet does not use justifies nothing.
fn refusal_is_justified(id: &str, case: &Case, setup: Setup, variant: Variant) -> bool {
    let fields = used_fields(id, case, setup, variant);
    let field = |name: &str| fields.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    let odd = fields.iter().any(|(_, v)| {
        v.chars().any(char::is_control)
            || v.starts_with(|c: char| c.is_whitespace())
            || v.ends_with(|c: char| c.is_whitespace())
    });
    let specific = match id {
        // curl's --user and --aws-sigv4 split at colons.
        "curl" => case.access_key.contains(':') || field("region").is_some_and(|r| r.contains(':')),
        // An HTTP header carries printable ASCII.
        "api-curl" if setup == Setup::TokenApi => !header_safe(&case.instance_id),
        "api-curl" => case.access_key.contains(':'),
        // IBM's SDK appends /identity/token to its URL, and refuses a key or service URL that
        // starts or ends with a curly bracket or a double quote.
        "api-python" => {
            let sdk_refuses = |v: &str| v.starts_with(['{', '"']) || v.ends_with(['}', '"']);
            !header_safe(&case.instance_id)
                || case
                    .token_url
                    .strip_suffix("/identity/token")
                    .is_none_or(str::is_empty)
                || sdk_refuses(&case.endpoint)
                || (variant == Variant::WithSecret && sdk_refuses(&case.secret))
        }
        // rclone replaces %(name)s.
        "rclone" => fields.iter().any(|(_, v)| v.contains("%(")),
        "s3cmd" => s3cmd_host(&case.endpoint).is_none(),
        _ => false,
    };
    odd || specific
}

fn header_safe(value: &str) -> bool {
    value.chars().all(|c| c == ' ' || c.is_ascii_graphic())
        && !value.starts_with(' ')
        && !value.ends_with(' ')
}

/// Stubbed clients record their arguments on descriptor 3, so that a call inside `$(...)` is
/// recorded too. curl records what it reads for `apikey@-`; python3 waits for its input (so
/// the calls of a pipeline are recorded in order) and answers a token.
const STUBS: &str = r#"
exec 3>&1
stub() { { printf '\001argv\0'; printf '%s\0' "$@"; } >&3; }
curl() {
  stub curl "$@"
  for arg; do
    if [ "$arg" = apikey@- ]; then { printf 'stdin:'; cat; printf '\0'; } >&3; fi
  done
}
python3() { cat >/dev/null; stub python3 "$@"; echo stub-token; }
mc() { stub mc "$@"; }
swift() { stub swift "$@"; }
"#;

/// Runs a shell snippet with stubbed clients; returns (variables, each stubbed call's argv).
fn run_shell(check: &Check, dir: &Path) -> (BTreeMap<String, String>, Vec<Vec<String>>) {
    let names: Vec<&str> = check.expect.iter().map(|(k, _)| k.as_str()).collect();
    let (shell, dump) = match check.reader {
        Reader::Bash => (
            "bash",
            format!(
                "printf '\\001vars\\0'; for v in {}; do printf '%s\\0%s\\0' \"$v\" \"${{!v-}}\"; done",
                names.join(" ")
            ),
        ),
        _ => ("sh", String::new()),
    };
    let script = format!("{STUBS}\n. {}\n{dump}\n", check.path.display());
    let output = Command::new(shell)
        .args(["-c", &script])
        .current_dir(dir)
        .env_remove("OS_PROJECT_NAME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(check.stdin.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        output.status.success(),
        "{}: {shell} failed: {}",
        check.what,
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    // Every field ends in NUL: the last one split off is empty.
    let mut fields = text.split('\0').collect::<Vec<_>>();
    fields.pop();
    let mut vars = BTreeMap::new();
    let mut calls: Vec<Vec<String>> = Vec::new();
    let mut fields = fields.into_iter();
    while let Some(field) = fields.next() {
        match field {
            "\u{1}argv" => calls.push(Vec::new()),
            "\u{1}vars" => {
                while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
                    vars.insert(name.to_string(), value.to_string());
                }
            }
            other => {
                if let Some(call) = calls.last_mut() {
                    call.push(other.to_string());
                }
            }
        }
    }
    (vars, calls)
}

fn lookup<'a>(document: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/')
        .try_fold(document, |node, key| node.get(key))
}

fn parse_with_python(checks: &[&Check]) -> Vec<Value> {
    let manifest: Vec<Value> = checks
        .iter()
        .map(|c| {
            let kind = match c.reader {
                Reader::Ini => "ini",
                Reader::S3cfg => "s3cfg",
                Reader::Yaml => "yaml",
                Reader::Python => "python",
                Reader::PythonCalls => "python-calls",
                other => panic!("not a Python reader: {other:?}"),
            };
            serde_json::json!({"kind": kind, "path": c.path})
        })
        .collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snippet_parsers.py");
    // Debian's Python: s3cmd's parser and PyYAML are installed for it.
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("Debian's python3 with s3cmd and python3-yaml: run scripts/install-test-deps.sh");
    serde_json::to_writer(child.stdin.take().unwrap(), &manifest).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the Python parsers failed");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// rclone reads all remotes of one config file; each check's remote is renamed to be unique.
fn parse_with_rclone(checks: &[&Check], dir: &Path) -> Value {
    let mut config = String::new();
    for (i, check) in checks.iter().enumerate() {
        let text = std::fs::read_to_string(&check.path).unwrap();
        config += &text.replacen(&format!("[{}]", check.profile), &format!("[case{i}]"), 1);
        config.push('\n');
    }
    let path = dir.join("rclone.conf");
    std::fs::write(&path, config).unwrap();
    let output = Command::new("rclone")
        .args(["--config", path.to_str().unwrap(), "config", "dump"])
        .output()
        .expect("rclone: run scripts/install-test-deps.sh");
    assert!(
        output.status.success(),
        "rclone config dump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn every_renderer_gives_its_parser_exactly_the_values_or_refuses_them_for_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases = cases();
    let mut checks = Vec::new();
    let mut rendered = 0;
    // For each snippet of each setup, how many cases it rendered for.
    let mut rendered_by_snippet: BTreeMap<String, usize> = BTreeMap::new();
    let mut unjustified = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        for setup in Setup::ALL {
            for variant in [Variant::WithSecret, Variant::WithoutSecret] {
                for snippet in snippets::render(&target(case, setup), variant) {
                    let what = format!(
                        "case {n} (service named {:?}) {case:?}, {} ({setup:?}, {variant:?})",
                        case.service_name, snippet.id
                    );
                    let count = rendered_by_snippet
                        .entry(format!("{setup:?} {}", snippet.id))
                        .or_default();
                    let text = match snippet.body {
                        Ok(text) => {
                            *count += 1;
                            text
                        }
                        Err(reason) => {
                            if !refusal_is_justified(snippet.id, case, setup, variant) {
                                unjustified.push(format!("{what} refused: {reason}"));
                            }
                            continue;
                        }
                    };
                    rendered += 1;
                    let path = dir.path().join(format!(
                        "{n}-{setup:?}-{}-{}",
                        snippet.id,
                        variant.as_str()
                    ));
                    std::fs::write(&path, &text).unwrap();
                    let (reader, mut expect, mut calls) =
                        expectation(snippet.id, case, setup, variant);
                    // The variants without the secret ask for it: type it in, if it fits on a line.
                    let asks = !snippet.holds_secret
                        && matches!(reader, Reader::Bash)
                        && text.contains("read -");
                    let stdin = if asks && !case.secret.contains(['\n', '\r', '\0']) {
                        format!("{}\n", case.secret)
                    } else {
                        if asks {
                            expect.retain(|(k, _)| {
                                !k.ends_with("PASSWORD")
                                    && !k.ends_with("SECRET_ACCESS_KEY")
                                    && !k.ends_with("_KEY")
                            });
                            // Nothing typed in: curl reads an empty key.
                            let typed = format!("stdin:{}", case.secret);
                            for arg in calls.iter_mut().flatten() {
                                if *arg == typed {
                                    *arg = "stdin:".to_string();
                                }
                            }
                        }
                        String::new()
                    };
                    checks.push(Check {
                        what,
                        profile: case.name.clone(),
                        path,
                        reader,
                        expect,
                        calls,
                        stdin,
                    });
                }
            }
        }
    }
    assert!(rendered > CASES * 10, "most cases render: {rendered}");
    assert!(
        rendered_by_snippet.values().all(|n| *n > CASES / 4),
        "every snippet renders for many cases: {rendered_by_snippet:?}"
    );

    for check in checks
        .iter()
        .filter(|c| matches!(c.reader, Reader::Bash | Reader::Dash))
    {
        let (vars, calls) = run_shell(check, dir.path());
        for (name, value) in &check.expect {
            assert_eq!(vars.get(name), Some(value), "{}: ${name}", check.what);
        }
        assert_eq!(calls, check.calls, "{}: arguments", check.what);
    }
    assert!(
        !dir.path().join("pwned").exists(),
        "a snippet ran a command hidden in a value"
    );

    let python_checks: Vec<&Check> = checks
        .iter()
        .filter(|c| {
            matches!(
                c.reader,
                Reader::Ini | Reader::S3cfg | Reader::Yaml | Reader::Python | Reader::PythonCalls
            )
        })
        .collect();
    let results = parse_with_python(&python_checks);
    for (check, result) in python_checks.iter().zip(&results) {
        assert!(result.get("error").is_none(), "{}: {result}", check.what);
        for (path, value) in &check.expect {
            assert_eq!(
                lookup(result, path).and_then(Value::as_str),
                Some(value.as_str()),
                "{}: {path} in {result}",
                check.what
            );
        }
    }

    let rclone_checks: Vec<&Check> = checks
        .iter()
        .filter(|c| c.reader == Reader::Rclone)
        .collect();
    let remotes = parse_with_rclone(&rclone_checks, dir.path());
    for (i, check) in rclone_checks.iter().enumerate() {
        for (key, value) in &check.expect {
            assert_eq!(
                lookup(&remotes, &format!("case{i}/{key}")).and_then(Value::as_str),
                Some(value.as_str()),
                "{}: {key}",
                check.what
            );
        }
    }
    assert!(
        unjustified.is_empty(),
        "{} refusals without a reason in the fields the snippet writes:\n{}",
        unjustified.len(),
        unjustified.join("\n")
    );
}
