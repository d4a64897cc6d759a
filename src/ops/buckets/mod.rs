//! The Buckets console: a member's buckets at a service's S3 API, reached with one of their own
//! keys (an app's key only for admins acting for the app; never another member's key, never the
//! backend's admin key). The key's secret is opened here, for the request, and never leaves.

mod objects;
mod region;

use crate::{
    db::{self, credentials::Credential, services::Service},
    domain::{
        audit::AuditAction,
        buckets,
        credentials::Owner,
        roles::{Action, CredentialAction, Whose},
        services::{CredentialKind, Interface, ServiceKind},
        validate,
    },
    ops::{Endpoint, Field, OpError, Ops, Principal, ProjectId, RowId},
    providers::{
        DriverError,
        s3::{S3Access, S3Failure},
    },
};

pub use crate::providers::s3::{BucketEntry, ObjectEntry, UploadBody};
pub use objects::{
    DOWNLOAD_VALID_FOR, DeletedObjects, ObjectsListing, PAGE_SIZE, delete_objects, download_url,
    list_objects, upload,
};
pub(crate) use region::{learn_at_addition, with_region};

/// Which key and which site the console acts with, as the page or the API names them; `None`
/// takes the first the principal may use.
#[derive(Clone, Debug, Default)]
pub struct Choice {
    pub key: Option<String>,
    pub site: Option<String>,
}

/// A key the principal may act with.
#[derive(Clone, Debug)]
pub struct KeyOption {
    pub id: String,
    pub name: String,
    pub access_key: String,
    /// The app that holds it, for an app's key; `None` for the principal's own.
    pub app: Option<String>,
}

/// What the console offers for a service: the keys the principal may use, the sites, and the
/// ones chosen.
pub struct Console {
    pub service: Service,
    pub keys: Vec<KeyOption>,
    pub sites: Vec<Endpoint>,
    /// The key and site acted with; `None` when the principal holds no usable key or the service
    /// has no S3 endpoint.
    pub key: Option<KeyOption>,
    pub site: Option<Endpoint>,
    /// The S3 API's URL at the chosen site.
    pub s3_url: String,
    /// The role may delete a non-empty bucket's objects to delete the bucket.
    pub may_empty: bool,
}

impl Console {
    /// The region requests are signed for at the chosen site.
    pub fn region(&self) -> &str {
        self.site
            .as_ref()
            .map(Endpoint::signing_region)
            .unwrap_or("us-east-1")
    }

    /// A bucket's URLs at the chosen site.
    pub fn bucket_urls(&self, bucket: &str) -> BucketUrls {
        bucket_urls(&self.s3_url, bucket)
    }
}

/// Where a bucket answers.
#[derive(Debug, PartialEq, Eq)]
pub struct BucketUrls {
    pub path_style: String,
    /// Empty when the endpoint's host cannot take the bucket's name in front, as an address
    /// cannot.
    pub virtual_hosted: String,
}

/// A bucket's URLs at the S3 API `s3_url`: path-style and virtual-hosted.
fn bucket_urls(s3_url: &str, bucket: &str) -> BucketUrls {
    let endpoint = s3_url.trim_end_matches('/');
    let virtual_hosted = url::Url::parse(endpoint)
        .ok()
        .filter(|u| matches!(u.host(), Some(url::Host::Domain(_))))
        .and_then(|mut u| {
            let host = format!("{bucket}.{}", u.host_str()?);
            u.set_host(Some(&host)).ok()?;
            Some(u.to_string())
        })
        .unwrap_or_default();
    BucketUrls {
        path_style: format!("{endpoint}/{bucket}"),
        virtual_hosted,
    }
}

/// The buckets page: the console, and its buckets or what kept S3 from listing them.
pub struct BucketsListing {
    pub console: Console,
    pub buckets: Vec<BucketEntry>,
    /// Why the list is empty when S3 refused or could not be reached; says what to do.
    pub problem: Option<String>,
}

/// Whether the service speaks S3: an S3 service, or an OpenStack cloud (its EC2 key pairs,
/// through Swift's s3api).
pub fn has_buckets(kind: ServiceKind) -> bool {
    matches!(kind, ServiceKind::S3 | ServiceKind::OpenStack)
}

/// The console of `service_id` for the principal, with the key and site chosen.
pub async fn console(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    choice: &Choice,
) -> Result<Console, OpError> {
    Ok(prepare(ops, who, service_id, choice).await?.0)
}

/// The console, and the credential behind its chosen key.
async fn prepare(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    choice: &Choice,
) -> Result<(Console, Option<Credential>), OpError> {
    let service = db::services::find(&ops.db, &who.project().id, service_id)
        .await?
        .ok_or(OpError::NotFound)?;
    if !has_buckets(service.kind) {
        return Err(OpError::NotFound);
    }
    if !who.may(Action::Credential(CredentialAction::Buckets, Whose::Own)) {
        return Err(OpError::Forbidden(
            "Your role holds no keys: the Buckets console is for members with a key of the service.",
        ));
    }
    let wanted_kind = match service.kind {
        ServiceKind::OpenStack => CredentialKind::Ec2,
        _ => CredentialKind::Key,
    };
    let mut usable = Vec::new();
    for credential in db::credentials::list_for_service(&ops.db, &service.id).await? {
        if credential.kind != wanted_kind || !credential.enabled || !may_use(who, &credential) {
            continue;
        }
        usable.push(credential);
    }
    // A key named that the principal may not use is not found, as anything they may not see.
    let chosen = match &choice.key {
        Some(id) => Some(
            usable
                .iter()
                .position(|c| &c.id == id)
                .ok_or(OpError::NotFound)?,
        ),
        None => (!usable.is_empty()).then_some(0),
    };
    let keys: Vec<KeyOption> = usable.iter().map(key_option).collect();
    let sites: Vec<Endpoint> = db::services::endpoints(&ops.db, &service.id)
        .await?
        .into_iter()
        .filter(|e| e.interface != Interface::Auth)
        .collect();
    let site = match &choice.site {
        Some(id) => Some(
            sites
                .iter()
                .find(|e| &e.id == id)
                .cloned()
                .ok_or(OpError::NotFound)?,
        ),
        None => sites
            .iter()
            .find(|e| e.interface == Interface::Public)
            .or(sites.first())
            .cloned(),
    };
    let s3_url = site
        .as_ref()
        .map(|e| s3_url(service.kind, e))
        .unwrap_or_default();
    let key = chosen.map(|i| keys[i].clone());
    let credential = chosen.map(|i| usable.swap_remove(i));
    Ok((
        Console {
            may_empty: who.may(Action::EmptyBucket),
            service,
            keys,
            sites,
            key,
            site,
            s3_url,
        },
        credential,
    ))
}

/// The principal's own keys (an app's own, for the app); an app's keys for those who act for
/// apps; never another member's.
fn may_use(who: &Principal, credential: &Credential) -> bool {
    match who.whose(&credential.owner) {
        Whose::Own => who.may(Action::Credential(CredentialAction::Buckets, Whose::Own)),
        Whose::Others => {
            matches!(credential.owner, Owner::App(_))
                && who.may(Action::Credential(CredentialAction::Buckets, Whose::Others))
        }
    }
}

fn key_option(credential: &Credential) -> KeyOption {
    KeyOption {
        id: credential.id.clone(),
        name: credential.name.clone(),
        access_key: credential.access_key.clone(),
        app: matches!(credential.owner, Owner::App(_)).then(|| credential.owner_name.clone()),
    }
}

/// Where the S3 API answers at an endpoint: Swift's s3api at the root of its public URL (the
/// catalog's URL ends in `/v1/AUTH_...`), an S3 service at the URL itself.
pub(crate) fn s3_url(kind: ServiceKind, endpoint: &Endpoint) -> String {
    let url = match kind {
        ServiceKind::OpenStack => {
            validate::origin(&endpoint.url).unwrap_or_else(|| endpoint.url.clone())
        }
        _ => endpoint.url.clone(),
    };
    format!("{}/", url.trim_end_matches('/'))
}

/// A console ready to act: the chosen key's secret opened for this request.
pub(crate) struct Acting {
    pub console: Console,
    pub credential: Credential,
    pub access: S3Access,
}

impl Acting {
    /// What the audit log says of the key used: never its secret.
    fn key_detail(&self) -> String {
        format!(
            "with key {} ({})",
            self.credential.access_key, self.credential.name
        )
    }

    /// The audit target for `bucket`: the service and the bucket.
    fn target(&self, bucket: &str) -> String {
        format!("{} / {}", self.console.service.name, bucket)
    }
}

/// Opens the chosen key for one request; refused when there is no key or site to act with.
pub(crate) async fn acting(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    choice: &Choice,
) -> Result<Acting, OpError> {
    let (console, credential) = prepare(ops, who, service_id, choice).await?;
    let Some(credential) = credential else {
        return Err(OpError::Refused(no_key_message(&console)));
    };
    if console.site.is_none() {
        return Err(OpError::Refused(
            "The service has no S3 endpoint yet; a project admin adds one on the service's page."
                .into(),
        ));
    }
    let endpoint = url::Url::parse(&console.s3_url).map_err(|_| {
        OpError::Refused("The service's S3 endpoint is not a valid URL; a project admin corrects it on the service's page.".into())
    })?;
    let secret = ops
        .open(
            ProjectId(&who.project().id),
            RowId(&credential.id),
            Field::Secret,
            &credential.secret,
        )
        .await?;
    let access = S3Access {
        endpoint,
        region: console.region().to_string(),
        access_key: credential.access_key.clone(),
        secret,
    };
    Ok(Acting {
        console,
        credential,
        access,
    })
}

fn no_key_message(console: &Console) -> String {
    let kind = match console.service.kind {
        ServiceKind::OpenStack => "EC2 key pair",
        _ => "key",
    };
    format!(
        "You hold no {kind} of {} to act with: add one in View Credentials, then come back.",
        console.service.name
    )
}

/// The buckets of the chosen key's owner at the chosen site, by name; what kept S3 from listing
/// them as the page shows it, beside the console.
pub async fn list_buckets(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    choice: &Choice,
) -> Result<BucketsListing, OpError> {
    match buckets(ops, who, service_id, choice).await {
        Ok((console, buckets)) => Ok(BucketsListing {
            console,
            buckets,
            problem: None,
        }),
        Err(problem @ (OpError::Refused(_) | OpError::Backend(_))) => Ok(BucketsListing {
            console: console(ops, who, service_id, choice).await?,
            buckets: Vec::new(),
            problem: Some(problem.to_string()),
        }),
        Err(e) => Err(e),
    }
}

/// The buckets of the chosen key's owner at the chosen site, by name; S3's refusal as an error.
pub async fn buckets(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    choice: &Choice,
) -> Result<(Console, Vec<BucketEntry>), OpError> {
    let mut acting = acting(ops, who, service_id, choice).await?;
    let http = ops.http().clone();
    let mut buckets = with_region!(ops, acting, |access| access.list_buckets(&http).await)
        .map_err(|failure| explain(&acting, None, failure))?;
    buckets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((acting.console, buckets))
}

/// Creates the bucket `name` (checked against S3's rules first) in the site's region; its name,
/// and the console it was made with (the region it is in, its URLs).
pub async fn create_bucket(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    choice: &Choice,
    name: &str,
) -> Result<(String, Console), OpError> {
    let name = buckets::bucket_name(name).map_err(|m| OpError::field("name", m))?;
    let mut acting = acting(ops, who, service_id, choice).await?;
    let http = ops.http().clone();
    // In us-east-1 S3 answers a repeated create of one's own bucket with success: the list says
    // whether it is new.
    let existing = with_region!(ops, acting, |access| access.list_buckets(&http).await)
        .map_err(|failure| explain(&acting, Some(&name), failure))?;
    if existing.iter().any(|b| b.name == name) {
        return Err(explain(
            &acting,
            Some(&name),
            S3Failure::Answered {
                status: 409,
                code: "BucketAlreadyOwnedByYou".into(),
                expected_region: None,
            },
        ));
    }
    let created = with_region!(ops, acting, |access| access
        .create_bucket(&http, &name)
        .await);
    created.map_err(|failure| explain(&acting, Some(&name), failure))?;
    let detail = format!("in {} {}", acting.console.region(), acting.key_detail());
    ops.record(
        who,
        AuditAction::BucketCreate,
        &acting.target(&name),
        &detail,
    )
    .await?;
    Ok((name, acting.console))
}

/// What came of a bucket's Delete.
pub enum BucketDeletion {
    Deleted {
        emptied: usize,
    },
    /// The bucket holds objects (`None`: more than [`COUNT_CAP`]); nothing was deleted.
    NotEmpty {
        objects: Option<usize>,
    },
}

/// Objects counted before a bucket's Delete says how many it holds.
pub const COUNT_CAP: usize = 10_000;

/// Deletes the bucket `name`. A bucket that holds objects is refused with their count, unless
/// `empty_first` (for roles that may, with the bucket's name typed again in `typed_name`).
pub async fn delete_bucket(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    choice: &Choice,
    name: &str,
    empty_first: Option<&str>,
) -> Result<BucketDeletion, OpError> {
    if empty_first.is_some() && !who.may(Action::EmptyBucket) {
        return Err(OpError::Forbidden(
            "Only project admins and owners empty a bucket to delete it.",
        ));
    }
    if let Some(typed) = empty_first
        && typed.trim() != name
    {
        return Err(OpError::field(
            "confirm_name",
            "Type the bucket's name exactly to delete its objects with it.",
        ));
    }
    let mut acting = acting(ops, who, service_id, choice).await?;
    let http = ops.http().clone();
    let emptied = if empty_first.is_some() {
        with_region!(ops, acting, |access| access.empty_bucket(&http, name).await)
            .map_err(|failure| explain(&acting, Some(name), failure))?
    } else {
        let count = with_region!(ops, acting, |access| access
            .count_objects(&http, name, COUNT_CAP)
            .await)
        .map_err(|failure| explain(&acting, Some(name), failure))?;
        if count != Some(0) {
            return Ok(BucketDeletion::NotEmpty { objects: count });
        }
        0
    };
    acting
        .access
        .delete_bucket(&http, name)
        .await
        .map_err(|failure| explain(&acting, Some(name), failure))?;
    let detail = if emptied > 0 {
        format!("{emptied} objects deleted first; {}", acting.key_detail())
    } else {
        acting.key_detail()
    };
    ops.record(
        who,
        AuditAction::BucketDelete,
        &acting.target(name),
        &detail,
    )
    .await?;
    Ok(BucketDeletion::Deleted { emptied })
}

/// S3's answer as a message that says what to do; never the endpoint's own text.
pub(crate) fn explain(acting: &Acting, bucket: Option<&str>, failure: S3Failure) -> OpError {
    let (code, status) = match failure {
        S3Failure::Driver(error @ DriverError::Refused(_)) => {
            return OpError::Refused(error.to_string());
        }
        S3Failure::Driver(error) => return OpError::Backend(error),
        S3Failure::Answered { code, status, .. } => (code, status),
    };
    let key = &acting.credential.access_key;
    let bucket = bucket.unwrap_or("the bucket");
    let message = match code.as_str() {
        "AccessDenied" | "AllAccessDisabled" => format!(
            "The S3 endpoint refused this to key {key} (AccessDenied): its user is not allowed to do it here. Ask whoever manages the account's permissions, or act with another key."
        ),
        "NoSuchBucket" => format!(
            "There is no bucket {bucket} at this site (NoSuchBucket): it may have been deleted meanwhile. Reload the list of buckets."
        ),
        "NoSuchKey" => format!(
            "The object is no longer in {bucket} (NoSuchKey): reload the list of objects."
        ),
        "BucketNotEmpty" => format!(
            "The bucket {bucket} is not empty (BucketNotEmpty): delete its objects first."
        ),
        "BucketAlreadyExists" => format!(
            "The name {bucket} is taken by another account (BucketAlreadyExists): bucket names are shared by everyone using this S3 service. Choose another name."
        ),
        "BucketAlreadyOwnedByYou" => format!(
            "You already have a bucket named {bucket} (BucketAlreadyOwnedByYou): it is in the list below."
        ),
        "InvalidBucketName" => format!(
            "The S3 endpoint refused the name {bucket} (InvalidBucketName): use 3 to 63 lowercase letters, digits, dots and hyphens."
        ),
        "SignatureDoesNotMatch" => format!(
            "The S3 endpoint did not accept the signature of key {key} (SignatureDoesNotMatch): the secret Keyport holds is not the one the service has, or the key was revoked. Regenerate the key in View Credentials, or import its current secret."
        ),
        "InvalidAccessKeyId" => format!(
            "The S3 endpoint does not know key {key} (InvalidAccessKeyId): it was disabled, deleted or rotated at the service. Regenerate it in View Credentials, or act with another key."
        ),
        "AuthorizationHeaderMalformed" | "AuthorizationQueryParametersError" => format!(
            "The S3 endpoint refused the region {} (AuthorizationHeaderMalformed) without naming the one it signs with: ask the service's operators which region its S3 API signs with.",
            acting.access.region
        ),
        "InvalidLocationConstraint" | "IllegalLocationConstraintException" => format!(
            "The S3 endpoint refused the region {} as the bucket's location ({code}): ask the service's operators which region its S3 API keeps buckets in.",
            acting.access.region
        ),
        "RequestTimeTooSkewed" => "The S3 endpoint's clock and Keyport's differ too much (RequestTimeTooSkewed): ask the operators to synchronise them.".to_string(),
        "EntityTooLarge" => "The S3 endpoint refused the file as too large (EntityTooLarge).".to_string(),
        "SlowDown" | "ServiceUnavailable" | "InternalError" => format!(
            "The S3 endpoint is busy or failing ({code}): nothing may have changed; try again in a moment."
        ),
        _ => {
            let named = if crate::providers::known_error_code(&code) {
                code.clone()
            } else {
                format!("HTTP {status}")
            };
            format!("The S3 endpoint refused the request ({named}).")
        }
    };
    OpError::Refused(message)
}

#[cfg(test)]
mod tests {
    use super::{BucketUrls, bucket_urls};

    #[test]
    fn a_bucket_answers_path_style_and_virtual_hosted_where_the_host_is_a_name() {
        assert_eq!(
            bucket_urls("https://s3.example.org/", "logs"),
            BucketUrls {
                path_style: "https://s3.example.org/logs".into(),
                virtual_hosted: "https://logs.s3.example.org/".into(),
            }
        );
        assert_eq!(
            bucket_urls("http://127.0.0.1:9000/", "logs"),
            BucketUrls {
                path_style: "http://127.0.0.1:9000/logs".into(),
                virtual_hosted: String::new(),
            }
        );
    }
}
