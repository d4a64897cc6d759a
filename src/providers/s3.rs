//! The S3 API as the Buckets console uses it, with a member's own key: requests built (URLs,
//! queries, XML bodies) and answers parsed by `rusty-s3`, signed in the `Authorization` header by
//! `aws-sigv4` (as the Test is), and sent through the client of the outgoing-request policy
//! ([`Http`]). Only the download URLs are presigned (by rusty-s3): they go to the browser.

use std::time::Duration;

use rusty_s3::{
    Bucket, Credentials, S3Action, UrlStyle,
    actions::{CreateBucket, ListObjectsV2, ObjectIdentifier},
};
use zeroize::Zeroizing;

use super::{
    DriverError,
    http::{Http, SigV4, SignableBody, not_answered, redirected},
};

/// rusty-s3 builds URLs by "signing" them; without credentials it adds only the action's
/// query (the Authorization header signs the request), so this duration is unused.
const SIGNED_FOR: Duration = Duration::from_secs(60);
/// How long an upload may take as a whole, once its body is at hand.
pub const UPLOAD_DEADLINE: Duration = Duration::from_secs(600);
/// How long one `DeleteObjects` of a thousand keys may take (Swift deletes them one by one).
pub const BATCH_DEADLINE: Duration = Duration::from_secs(300);
/// At most this many keys in one `DeleteObjects` (S3's own limit).
pub const DELETE_BATCH: usize = 1000;

/// Where a bucket lives and which key acts there.
pub struct S3Access {
    /// The S3 API's base URL (path-style requests go below it).
    pub endpoint: url::Url,
    /// The region requests are signed for.
    pub region: String,
    pub access_key: String,
    pub secret: Zeroizing<String>,
}

/// What went wrong with an S3 request.
#[derive(Debug)]
pub enum S3Failure {
    /// S3 answered with an error code (`NoSuchBucket`, `AccessDenied`...), and, for a request
    /// signed for the wrong region, the region it expects when it says so.
    Answered {
        status: u16,
        code: String,
        expected_region: Option<String>,
    },
    /// Not reached, not allowed by the outgoing-request policy, or an answer that is not S3's.
    Driver(DriverError),
}

impl From<DriverError> for S3Failure {
    fn from(error: DriverError) -> Self {
        S3Failure::Driver(error)
    }
}

/// A bucket as `ListBuckets` gives it.
pub struct BucketEntry {
    pub name: String,
    /// As S3 writes it (ISO 8601).
    pub created: String,
}

/// One page of a bucket's listing.
pub struct ObjectPage {
    pub objects: Vec<ObjectEntry>,
    /// Folders: the common prefixes under the prefix, up to the delimiter.
    pub folders: Vec<String>,
    /// Where the next page starts, if there is one.
    pub next: Option<String>,
}

pub struct ObjectEntry {
    pub key: String,
    pub size: u64,
    pub last_modified: String,
    pub storage_class: String,
}

/// The upload's body: a file of `length` bytes, and its SHA-256 (hex) for the signature.
pub struct UploadBody {
    pub file: tokio::fs::File,
    pub length: u64,
    pub sha256: String,
    pub content_type: String,
}

impl S3Access {
    fn credentials(&self) -> Credentials {
        Credentials::new(self.access_key.clone(), self.secret.as_str())
    }

    fn bucket(&self, name: &str) -> Result<Bucket, S3Failure> {
        Bucket::new(
            self.endpoint.clone(),
            UrlStyle::Path,
            name.to_string(),
            self.region.clone(),
        )
        .map_err(|_| {
            S3Failure::Driver(DriverError::Refused(
                "The S3 endpoint's URL cannot address a bucket.".into(),
            ))
        })
    }

    /// A request of `method` to `url` (built by rusty-s3, unsigned), signed in its
    /// `Authorization` header: every S3 API and emulator checks that form.
    fn request(
        &self,
        http: &Http,
        method: reqwest::Method,
        url: &url::Url,
        headers: &[(&str, &str)],
        body: SignableBody<'_>,
    ) -> Result<reqwest::RequestBuilder, S3Failure> {
        let signer = SigV4 {
            access_key: &self.access_key,
            secret: &self.secret,
            region: &self.region,
            service: "s3",
        };
        let signed = signer.headers_for(method.as_str(), url.as_str(), headers, body)?;
        let mut request = http.request(method, url.as_str())?;
        for (name, value) in headers.iter().copied() {
            request = request.header(name, value);
        }
        for (name, value) in signed {
            request = request.header(name, value);
        }
        Ok(request)
    }

    /// The buckets the key's owner has.
    pub async fn list_buckets(&self, http: &Http) -> Result<Vec<BucketEntry>, S3Failure> {
        let url = self.endpoint.clone();
        let request = self.request(
            http,
            reqwest::Method::GET,
            &url,
            &[],
            SignableBody::Bytes(b""),
        )?;
        let body = send(request, url.as_str()).await?;
        let document = parse(&body)?;
        Ok(document
            .descendants()
            .filter(|n| n.tag_name().name() == "Bucket")
            .map(|bucket| BucketEntry {
                name: child_text(bucket, "Name"),
                created: child_text(bucket, "CreationDate"),
            })
            .collect())
    }

    /// Creates `name` in the key's region (its location constraint, outside `us-east-1`).
    pub async fn create_bucket(&self, http: &Http, name: &str) -> Result<(), S3Failure> {
        let bucket = self.bucket(name)?;
        let credentials = self.credentials();
        let body = CreateBucket::new(&bucket, &credentials).body();
        let url = bucket.base_url().clone();
        // S3 wants the length even of an empty body (us-east-1 has no location constraint).
        let length = body.len().to_string();
        let request = self
            .request(
                http,
                reqwest::Method::PUT,
                &url,
                &[("content-length", &length)],
                SignableBody::Bytes(body.as_bytes()),
            )?
            .body(body);
        send(request, url.as_str()).await?;
        Ok(())
    }

    pub async fn delete_bucket(&self, http: &Http, name: &str) -> Result<(), S3Failure> {
        let url = self.bucket(name)?.base_url().clone();
        let request = self.request(
            http,
            reqwest::Method::DELETE,
            &url,
            &[],
            SignableBody::Bytes(b""),
        )?;
        send(request, url.as_str()).await?;
        Ok(())
    }

    /// One page of at most `max` entries under `prefix`, folders cut at `delimiter`.
    pub async fn list_objects(
        &self,
        http: &Http,
        name: &str,
        prefix: &str,
        delimiter: Option<&str>,
        start: Option<&str>,
        max: usize,
    ) -> Result<ObjectPage, S3Failure> {
        let bucket = self.bucket(name)?;
        let mut action = ListObjectsV2::new(&bucket, None);
        if !prefix.is_empty() {
            action.with_prefix(prefix);
        }
        if let Some(delimiter) = delimiter {
            action.with_delimiter(delimiter);
        }
        if let Some(token) = start {
            action.with_continuation_token(token);
        }
        action.with_max_keys(max);
        let url = action.sign(SIGNED_FOR);
        let request = self.request(
            http,
            reqwest::Method::GET,
            &url,
            &[],
            SignableBody::Bytes(b""),
        )?;
        let body = send(request, url.as_str()).await?;
        let listing = ListObjectsV2::parse_response(&body).map_err(|_| not_s3())?;
        Ok(ObjectPage {
            objects: listing
                .contents
                .into_iter()
                .map(|o| ObjectEntry {
                    key: o.key,
                    size: o.size.unwrap_or(0),
                    last_modified: o.last_modified.unwrap_or_default(),
                    storage_class: o.storage_class.unwrap_or_default(),
                })
                .collect(),
            folders: listing
                .common_prefixes
                .into_iter()
                .map(|p| p.prefix)
                .collect(),
            next: listing.next_continuation_token.filter(|t| !t.is_empty()),
        })
    }

    /// How many objects `name` holds, counted up to `cap` (then `None`: more than that).
    pub async fn count_objects(
        &self,
        http: &Http,
        name: &str,
        cap: usize,
    ) -> Result<Option<usize>, S3Failure> {
        let mut count = 0;
        let mut next = None;
        loop {
            let page = self
                .list_objects(http, name, "", None, next.as_deref(), 1000)
                .await?;
            count += page.objects.len();
            if count > cap {
                return Ok(None);
            }
            match page.next {
                Some(token) => next = Some(token),
                None => return Ok(Some(count)),
            }
        }
    }

    /// Deletes `keys` (at most [`DELETE_BATCH`]) in one `DeleteObjects`; returns the keys S3
    /// could not delete, with its code.
    pub async fn delete_objects(
        &self,
        http: &Http,
        name: &str,
        keys: &[String],
    ) -> Result<Vec<(String, String)>, S3Failure> {
        let bucket = self.bucket(name)?;
        let objects: Vec<ObjectIdentifier> =
            keys.iter().cloned().map(ObjectIdentifier::new).collect();
        let mut action = bucket.delete_objects(None, objects.iter());
        action.set_quiet(true);
        let url = action.sign(SIGNED_FOR);
        let (body, md5) = action.body_with_md5();
        let request = self
            .request(
                http,
                reqwest::Method::POST,
                &url,
                &[("content-md5", &md5), ("content-type", "application/xml")],
                SignableBody::Bytes(body.as_bytes()),
            )?
            .body(body);
        let answer = send(request.timeout(BATCH_DEADLINE), url.as_str()).await?;
        // Read leniently: S3 emulators differ in the namespace of the answer, and moto answers
        // a quiet delete that refused nothing with no body at all.
        if answer.trim().is_empty() {
            return Ok(Vec::new());
        }
        let document = parse(&answer)?;
        Ok(document
            .descendants()
            .filter(|n| n.tag_name().name() == "Error")
            .map(|e| (child_text(e, "Key"), child_text(e, "Code")))
            .collect())
    }

    /// Deletes every object of `name`, a thousand at a time.
    pub async fn empty_bucket(&self, http: &Http, name: &str) -> Result<usize, S3Failure> {
        let mut deleted = 0;
        loop {
            let page = self
                .list_objects(http, name, "", None, None, DELETE_BATCH)
                .await?;
            if page.objects.is_empty() {
                return Ok(deleted);
            }
            let keys: Vec<String> = page.objects.into_iter().map(|o| o.key).collect();
            let failed = self.delete_objects(http, name, &keys).await?;
            if let Some((_, code)) = failed.first() {
                return Err(S3Failure::Answered {
                    status: 200,
                    code: code.clone(),
                    expected_region: None,
                });
            }
            deleted += keys.len();
        }
    }

    /// A URL that downloads `key` for `valid_for`, presigned with the key; it carries no secret.
    pub fn download_url(
        &self,
        name: &str,
        key: &str,
        valid_for: Duration,
    ) -> Result<url::Url, S3Failure> {
        let bucket = self.bucket(name)?;
        let credentials = self.credentials();
        let mut action = bucket.get_object(Some(&credentials), key);
        let file_name = key.rsplit('/').next().unwrap_or(key);
        let disposition = format!(
            "attachment; filename*=UTF-8''{}",
            percent_encoding::utf8_percent_encode(file_name, percent_encoding::NON_ALPHANUMERIC)
        );
        action
            .query_mut()
            .insert("response-content-disposition", disposition);
        Ok(action.sign(valid_for))
    }

    /// Uploads `body` as `key`, streamed from its file.
    pub async fn put_object(
        &self,
        http: &Http,
        name: &str,
        key: &str,
        body: UploadBody,
    ) -> Result<(), S3Failure> {
        let url = self.bucket(name)?.object_url(key);
        let length = body.length.to_string();
        let stream = tokio_util::io::ReaderStream::new(body.file);
        let request = self
            .request(
                http,
                reqwest::Method::PUT,
                &url,
                &[
                    ("content-length", &length),
                    ("content-type", &body.content_type),
                ],
                SignableBody::Precomputed(body.sha256),
            )?
            .timeout(UPLOAD_DEADLINE)
            .body(reqwest::Body::wrap_stream(stream));
        send(request, url.as_str()).await?;
        Ok(())
    }
}

/// Sends the request; S3's answer on success, its error code otherwise.
async fn send(request: reqwest::RequestBuilder, url: &str) -> Result<String, S3Failure> {
    let response = request
        .send()
        .await
        .map_err(|e| S3Failure::Driver(not_answered("The S3 endpoint", url, &e)))?;
    let status = response.status();
    if let Some(refused) = redirected("The S3 endpoint", status) {
        return Err(S3Failure::Driver(refused));
    }
    let body = response
        .text()
        .await
        .map_err(|e| S3Failure::Driver(not_answered("The S3 endpoint", url, &e)))?;
    if status.is_success() {
        return Ok(body);
    }
    Err(answered(status.as_u16(), &body))
}

/// S3's error, read from its XML answer (a HEAD-like answer without a body gives the status).
fn answered(status: u16, body: &str) -> S3Failure {
    let document = roxmltree::Document::parse(body).ok();
    let field = |name: &str| {
        document.as_ref().and_then(|d| {
            d.descendants()
                .find(|n| n.tag_name().name() == name)
                .and_then(|n| n.text())
                .map(str::to_string)
        })
    };
    let code = field("Code").unwrap_or_else(|| match status {
        403 => "AccessDenied".into(),
        404 => "NoSuchBucket".into(),
        _ => format!("HTTP {status}"),
    });
    S3Failure::Answered {
        status,
        expected_region: expected_region(body),
        code,
    }
}

/// The region an S3 error answer says the endpoint signs with, for a request signed for another
/// (`AuthorizationHeaderMalformed`, `AuthorizationQueryParametersError`): AWS names it in
/// `<Region>`, Swift's s3api only in its message ("... expecting 'X'").
pub fn expected_region(body: &str) -> Option<String> {
    let document = roxmltree::Document::parse(body).ok()?;
    let field = |name: &str| {
        document
            .descendants()
            .find(|n| n.tag_name().name() == name)
            .and_then(|n| n.text())
            .map(str::to_string)
    };
    let code = field("Code")?;
    if code != "AuthorizationHeaderMalformed" && code != "AuthorizationQueryParametersError" {
        return None;
    }
    field("Region")
        .or_else(|| {
            let message = field("Message")?;
            let (_, after) = message.split_once("expecting '")?;
            let (region, _) = after.split_once('\'')?;
            Some(region.to_string())
        })
        .filter(|r| valid_region(r))
}

/// A region name as S3 endpoints write them: letters, digits, `-` and `_`.
pub fn valid_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 64
        && region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn not_s3() -> S3Failure {
    S3Failure::Driver(DriverError::Refused(
        "The S3 endpoint answered with something that is not an S3 answer.".into(),
    ))
}

fn parse(body: &str) -> Result<roxmltree::Document<'_>, S3Failure> {
    roxmltree::Document::parse(body).map_err(|_| not_s3())
}

fn child_text(node: roxmltree::Node<'_, '_>, name: &str) -> String {
    node.children()
        .find(|n| n.tag_name().name() == name)
        .and_then(|n| n.text())
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_region_is_read_from_aws_and_swift_answers() {
        let aws = "<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; the region 'RegionOne' is wrong; expecting 'us-east-1'</Message><Region>us-east-1</Region></Error>";
        let swift = "<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'RegionOne'</Message></Error>";
        for (body, region) in [(aws, "us-east-1"), (swift, "RegionOne")] {
            match answered(400, body) {
                S3Failure::Answered {
                    code,
                    expected_region,
                    ..
                } => {
                    assert_eq!(code, "AuthorizationHeaderMalformed");
                    assert_eq!(expected_region.as_deref(), Some(region));
                }
                S3Failure::Driver(e) => panic!("{e}"),
            }
        }
        let odd = "<Error><Code>AuthorizationHeaderMalformed</Code><Message>expecting 'a region/../x'</Message></Error>";
        assert!(matches!(
            answered(400, odd),
            S3Failure::Answered {
                expected_region: None,
                ..
            }
        ));
        assert!(matches!(
            answered(404, ""),
            S3Failure::Answered { code, .. } if code == "NoSuchBucket"
        ));
    }
}
