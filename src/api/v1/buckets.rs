//! The Buckets console for programs: a service's buckets and their objects at its S3 API, with
//! one of the caller's own keys (an app's key for admins and owners acting for the app), through
//! the same operations as the pages (`ops::buckets`), audited alike. The key's secret never
//! leaves Keyport: downloads go through a short-lived presigned URL.

use axum::{
    Json,
    extract::{
        Path, Query, Request, State,
        rejection::{JsonRejection, QueryRejection},
    },
    http::{StatusCode, header},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, IntoResponses, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::{
        auth::ApiPrincipal,
        error::{ApiError, Failure},
    },
    ops::{
        self,
        buckets::{BucketDeletion, Choice, Console, KeyOption, ObjectEntry},
    },
    state::AppState,
    upload::{self, Unread, UploadStream},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(buckets_get, bucket_post))
        .routes(routes!(bucket_delete))
        .routes(routes!(objects_get, object_put))
        .routes(routes!(objects_delete_post))
        .routes(routes!(download_url_post))
}

/// What every operation of the console may answer besides its own answers.
#[derive(IntoResponses)]
#[expect(
    dead_code,
    reason = "the OpenAPI document's responses, answered as `Failure`"
)]
enum Refusals {
    /// No valid access token
    #[response(status = 401)]
    Unauthorized(ApiError),
    /// The caller's role holds no keys (viewers); for a bucket's Delete with `empty`, the role
    /// may not delete objects with a bucket (admins and owners only)
    #[response(status = 403)]
    Forbidden(ApiError),
    /// No such project, service with an S3 API, key the caller may use, or site
    #[response(status = 404)]
    NotFound(ApiError),
}

/// What the operations that reach the S3 API may answer besides.
#[derive(IntoResponses)]
#[expect(
    dead_code,
    reason = "the OpenAPI document's responses, answered as `Failure`"
)]
enum Unreached {
    /// The S3 API did not answer in time, or is not allowed by the outgoing-request policy
    #[response(status = 502)]
    BadGateway(ApiError),
}

/// A service's console.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct ServicePath {
    /// The project's slug
    #[expect(dead_code, reason = "the principal's extractor reads it")]
    project: String,
    /// The service's instance id
    instance_id: String,
}

/// A bucket of a service's console.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct BucketPath {
    /// The project's slug
    #[expect(dead_code, reason = "the principal's extractor reads it")]
    project: String,
    /// The service's instance id
    instance_id: String,
    /// The bucket's name
    bucket: String,
}

/// Which key and site to act with; the first the caller may use when missing.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
struct ActingParams {
    /// The id of the credential (an S3 key, or an OpenStack service's EC2 key pair) to act
    /// with: the caller's own, or an app's for admins and owners.
    credential: Option<String>,
    /// The id of the endpoint (site) to act at.
    site: Option<String>,
}

impl ActingParams {
    fn choice(self) -> Choice {
        let some = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
        Choice {
            key: some(self.credential),
            site: some(self.site),
        }
    }
}

/// A key the caller may act with.
#[derive(Serialize, ToSchema)]
pub struct KeyOut {
    /// The credential's id.
    pub id: String,
    pub name: String,
    pub access_key: String,
    /// The app that holds it; none for the caller's own.
    pub app: Option<String>,
}

impl From<KeyOption> for KeyOut {
    fn from(k: KeyOption) -> Self {
        KeyOut {
            id: k.id,
            name: k.name,
            access_key: k.access_key,
            app: k.app,
        }
    }
}

/// A site of the service.
#[derive(Serialize, ToSchema)]
pub struct SiteOut {
    /// The endpoint's id.
    pub id: String,
    pub site: String,
    pub region: String,
    /// `public` or `private`.
    pub interface: String,
}

/// A bucket and where it answers.
#[derive(Serialize, ToSchema)]
pub struct BucketOut {
    pub name: String,
    /// As S3 gives it (ISO 8601); empty for a bucket just made.
    pub created: String,
    pub path_style_url: String,
    /// None where the endpoint's host is an address, which cannot take the bucket's name.
    pub virtual_hosted_url: Option<String>,
}

impl BucketOut {
    fn new(console: &Console, name: String, created: String) -> BucketOut {
        let urls = console.bucket_urls(&name);
        BucketOut {
            path_style_url: urls.path_style,
            virtual_hosted_url: Some(urls.virtual_hosted).filter(|u| !u.is_empty()),
            name,
            created,
        }
    }
}

/// The keys and sites the caller may act with, those acted with, and the buckets there.
#[derive(Serialize, ToSchema)]
pub struct BucketsOut {
    /// The key acted with.
    pub key: KeyOut,
    /// The site acted at.
    pub site: SiteOut,
    /// The S3 API's URL at that site.
    pub s3_url: String,
    /// The region requests are signed for there (learned from the S3 API when it names another).
    pub signing_region: String,
    pub keys: Vec<KeyOut>,
    pub sites: Vec<SiteOut>,
    /// By name.
    pub buckets: Vec<BucketOut>,
}

fn site_out(e: &ops::Endpoint) -> SiteOut {
    SiteOut {
        id: e.id.clone(),
        site: e.site.clone(),
        region: e.region.clone(),
        interface: e.interface.as_str().into(),
    }
}

/// The buckets the key's owner has at the site.
///
/// With the caller's own key (or an app's, for admins and owners): never another member's. A
/// service's S3 API: an S3 service's endpoint, or an OpenStack cloud's through Swift's s3api
/// (with an EC2 key pair).
#[utoipa::path(
    get,
    path = "/projects/{project}/services/{instance_id}/buckets",
    tag = "buckets",
    params(
        ServicePath,
        ActingParams,
    ),
    responses(
        (status = 200, description = "The buckets", body = BucketsOut),
        Refusals,
        (status = 409, description = "The caller holds no key to act with, the service has no S3 endpoint, or the S3 API refused; the message says what to do", body = ApiError),
        (status = 422, description = "A parameter is not valid", body = ApiError),
        Unreached,
    )
)]
async fn buckets_get(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path(ServicePath {
        instance_id: service_id,
        ..
    }): Path<ServicePath>,
    acting: Result<Query<ActingParams>, QueryRejection>,
) -> Result<Json<BucketsOut>, Failure> {
    let Query(acting) = acting?;
    let (console, buckets) =
        ops::buckets::buckets(&state.ops, &who, &service_id, &acting.choice()).await?;
    let buckets = buckets
        .into_iter()
        .map(|b| BucketOut::new(&console, b.name, b.created))
        .collect();
    let (Some(key), Some(site)) = (console.key.clone(), console.site.as_ref()) else {
        return Err(Failure::not_found());
    };
    Ok(Json(BucketsOut {
        key: key.into(),
        site: site_out(site),
        s3_url: console.s3_url.clone(),
        signing_region: console.region().to_string(),
        keys: console.keys.iter().cloned().map(KeyOut::from).collect(),
        sites: console.sites.iter().map(site_out).collect(),
        buckets,
    }))
}

/// A bucket to make.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBucket {
    /// 3 to 63 lowercase letters, digits, dots and hyphens, a letter or digit at each end
    /// (S3's rules, all checked before the call).
    #[serde(default)]
    #[schema(
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9.-]*[a-z0-9]$"
    )]
    name: String,
}

/// A bucket made, with the region it was made in.
#[derive(Serialize, ToSchema)]
pub struct BucketCreated {
    #[serde(flatten)]
    pub bucket: BucketOut,
    /// The site's S3 region, given as the location constraint.
    pub region: String,
}

/// Makes a bucket at the site, in its region.
///
/// Audited with the key used.
#[utoipa::path(
    post,
    path = "/projects/{project}/services/{instance_id}/buckets",
    tag = "buckets",
    params(
        ServicePath,
        ActingParams,
    ),
    request_body = NewBucket,
    responses(
        (status = 201, description = "The bucket was made", body = BucketCreated),
        Refusals,
        (status = 409, description = "Not made: the name is taken (BucketAlreadyExists, BucketAlreadyOwnedByYou), the caller holds no key, or the S3 API refused; the message says what to do", body = ApiError),
        (status = 422, description = "The name breaks S3's naming rules; `fields` says why", body = ApiError),
        Unreached,
    )
)]
async fn bucket_post(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path(ServicePath {
        instance_id: service_id,
        ..
    }): Path<ServicePath>,
    acting: Result<Query<ActingParams>, QueryRejection>,
    body: Result<Json<NewBucket>, JsonRejection>,
) -> Result<(StatusCode, Json<BucketCreated>), Failure> {
    let Query(acting) = acting?;
    let Json(body) = body?;
    let choice = acting.choice();
    let (name, console) =
        ops::buckets::create_bucket(&state.ops, &who, &service_id, &choice, &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(BucketCreated {
            region: console.region().to_string(),
            bucket: BucketOut::new(&console, name, String::new()),
        }),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeleteBucketParams {
    /// To delete the bucket's objects with it (admins and owners): the bucket's name again.
    empty: Option<String>,
}

/// A bucket deleted.
#[derive(Serialize, ToSchema)]
pub struct BucketDeleted {
    pub name: String,
    /// How many objects were deleted with it.
    pub emptied: usize,
}

/// Deletes a bucket.
///
/// A bucket that holds objects is refused with their count (409), unless `empty` names it again
/// (admins and owners), which deletes its objects first. Audited with the key used.
#[utoipa::path(
    delete,
    path = "/projects/{project}/services/{instance_id}/buckets/{bucket}",
    tag = "buckets",
    params(
        BucketPath,
        ActingParams,
        DeleteBucketParams,
    ),
    responses(
        (status = 200, description = "The bucket was deleted", body = BucketDeleted),
        Refusals,
        (status = 409, description = "Not deleted: the bucket holds objects (the message counts them), does not exist, or the S3 API refused; the message says what to do", body = ApiError),
        (status = 422, description = "`empty` is not the bucket's name", body = ApiError),
        Unreached,
    )
)]
async fn bucket_delete(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path(BucketPath {
        instance_id: service_id,
        bucket,
        ..
    }): Path<BucketPath>,
    acting: Result<Query<ActingParams>, QueryRejection>,
    params: Result<Query<DeleteBucketParams>, QueryRejection>,
) -> Result<Json<BucketDeleted>, Failure> {
    let Query(acting) = acting?;
    let Query(params) = params?;
    let deletion = ops::buckets::delete_bucket(
        &state.ops,
        &who,
        &service_id,
        &acting.choice(),
        &bucket,
        params.empty.as_deref(),
    )
    .await?;
    match deletion {
        BucketDeletion::Deleted { emptied } => Ok(Json(BucketDeleted {
            name: bucket,
            emptied,
        })),
        BucketDeletion::NotEmpty { objects } => {
            let count = match objects {
                Some(n) => format!("{n} objects"),
                None => format!("more than {} objects", ops::buckets::COUNT_CAP),
            };
            Err(Failure::new(
                StatusCode::CONFLICT,
                "refused",
                format!(
                    "The bucket {bucket} holds {count}: it was not deleted. Delete them first, or send empty={bucket} (admins and owners) to delete them with it."
                ),
            ))
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ObjectsParams {
    /// The folder: objects whose keys start with it (folders are cut at `/`).
    #[serde(default)]
    prefix: String,
    /// Where the page starts: the `next` of the page before.
    start: Option<String>,
}

/// An object of a bucket.
#[derive(Serialize, ToSchema)]
pub struct ObjectOut {
    pub key: String,
    pub size: u64,
    /// As S3 gives it (ISO 8601).
    pub last_modified: String,
    pub storage_class: String,
}

impl From<ObjectEntry> for ObjectOut {
    fn from(o: ObjectEntry) -> Self {
        ObjectOut {
            key: o.key,
            size: o.size,
            last_modified: o.last_modified,
            storage_class: o.storage_class,
        }
    }
}

/// One page of a folder of a bucket.
#[derive(Serialize, ToSchema)]
pub struct ObjectsOut {
    pub bucket: String,
    pub prefix: String,
    /// The folders under the prefix (each ends in `/`): list them with it as `prefix`.
    pub folders: Vec<String>,
    pub objects: Vec<ObjectOut>,
    /// The `start` of the next page; none on the last.
    pub next: Option<String>,
}

/// One page of a bucket's objects, folder by folder.
///
/// Up to 200 objects a page; a later page costs what the first does (S3's continuation token).
#[utoipa::path(
    get,
    path = "/projects/{project}/services/{instance_id}/buckets/{bucket}/objects",
    tag = "buckets",
    params(
        BucketPath,
        ActingParams,
        ObjectsParams,
    ),
    responses(
        (status = 200, description = "The page", body = ObjectsOut),
        Refusals,
        (status = 409, description = "No such bucket, or the S3 API refused; the message says what to do", body = ApiError),
        (status = 422, description = "A parameter is not valid", body = ApiError),
        Unreached,
    )
)]
async fn objects_get(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path(BucketPath {
        instance_id: service_id,
        bucket,
        ..
    }): Path<BucketPath>,
    acting: Result<Query<ActingParams>, QueryRejection>,
    params: Result<Query<ObjectsParams>, QueryRejection>,
) -> Result<Json<ObjectsOut>, Failure> {
    let Query(acting) = acting?;
    let Query(params) = params?;
    let listing = ops::buckets::list_objects(
        &state.ops,
        &who,
        &service_id,
        &acting.choice(),
        &bucket,
        &params.prefix,
        params.start.as_deref().filter(|s| !s.is_empty()),
    )
    .await?;
    Ok(Json(ObjectsOut {
        bucket: listing.bucket,
        prefix: listing.prefix,
        folders: listing.folders,
        objects: listing.objects.into_iter().map(ObjectOut::from).collect(),
        next: listing.next,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UploadParams {
    /// The object's key (its whole name, folders included).
    #[serde(default)]
    key: String,
}

/// An object stored.
#[derive(Serialize, ToSchema)]
pub struct ObjectStored {
    pub key: String,
    /// Bytes stored.
    pub size: u64,
}

/// Uploads the request's body as an object.
///
/// Streamed to S3 from a temporary file, never held in memory; at most the instance's upload
/// limit (`KEYPORT_UPLOAD_MAX_MEGABYTES`). The `Content-Type` is stored with the object. An
/// object of that key is replaced. Audited with the key used.
#[utoipa::path(
    put,
    path = "/projects/{project}/services/{instance_id}/buckets/{bucket}/objects",
    tag = "buckets",
    params(
        BucketPath,
        ActingParams,
        UploadParams,
    ),
    request_body(content = Vec<u8>, description = "The object's bytes"),
    responses(
        (status = 201, description = "The object was stored", body = ObjectStored),
        (status = 400, description = "The body broke off or came too slowly; nothing was stored", body = ApiError),
        Refusals,
        (status = 409, description = "No such bucket, or the S3 API refused; the message says what to do", body = ApiError),
        (status = 413, description = "The body is larger than the upload limit; nothing was stored", body = ApiError),
        (status = 422, description = "The key is missing or not valid", body = ApiError),
        Unreached,
    )
)]
async fn object_put(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path(BucketPath {
        instance_id: service_id,
        bucket,
        ..
    }): Path<BucketPath>,
    acting: Result<Query<ActingParams>, QueryRejection>,
    params: Result<Query<UploadParams>, QueryRejection>,
    request: Request,
) -> Result<(StatusCode, Json<ObjectStored>), Failure> {
    let Query(acting) = acting?;
    let Query(params) = params?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .unwrap_or("application/octet-stream")
        .to_string();
    let body = request
        .extensions()
        .get::<UploadStream>()
        .and_then(UploadStream::take)
        .unwrap_or_default();
    let megabytes = state.config.upload_max_megabytes;
    let limit = megabytes * 1024 * 1024;
    let idle = state.config.limits.body_timeout();
    let body = upload::spool_body(body, limit, idle, content_type)
        .await
        .map_err(|unread| {
            let status = match unread {
                Unread::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                Unread::Broken | Unread::Slow => StatusCode::BAD_REQUEST,
            };
            Failure::new(status, "invalid", unread.message(megabytes))
        })?;
    let size = body.length;
    ops::buckets::upload(
        &state.ops,
        &who,
        &service_id,
        &acting.choice(),
        &bucket,
        &params.key,
        body,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(ObjectStored {
            key: params.key,
            size,
        }),
    ))
}

/// Objects to delete.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteObjectsIn {
    /// Their keys; a thousand go to S3 in one `DeleteObjects`.
    #[serde(default)]
    #[schema(min_items = 1)]
    keys: Vec<String>,
}

/// A key S3 did not delete.
#[derive(Serialize, ToSchema)]
pub struct NotDeleted {
    pub key: String,
    /// S3's error code.
    pub code: String,
}

/// What a delete of objects did.
#[derive(Serialize, ToSchema)]
pub struct ObjectsDeleted {
    pub deleted: usize,
    pub failed: Vec<NotDeleted>,
}

/// Deletes objects of a bucket.
///
/// Audited with the key used: the first keys and how many.
#[utoipa::path(
    post,
    path = "/projects/{project}/services/{instance_id}/buckets/{bucket}/objects/delete",
    tag = "buckets",
    params(
        BucketPath,
        ActingParams,
    ),
    request_body = DeleteObjectsIn,
    responses(
        (status = 200, description = "What was deleted, and what S3 refused", body = ObjectsDeleted),
        Refusals,
        (status = 409, description = "No such bucket, or the S3 API refused; the message says what to do", body = ApiError),
        (status = 422, description = "No keys were given", body = ApiError),
        Unreached,
    )
)]
async fn objects_delete_post(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path(BucketPath {
        instance_id: service_id,
        bucket,
        ..
    }): Path<BucketPath>,
    acting: Result<Query<ActingParams>, QueryRejection>,
    body: Result<Json<DeleteObjectsIn>, JsonRejection>,
) -> Result<Json<ObjectsDeleted>, Failure> {
    let Query(acting) = acting?;
    let Json(body) = body?;
    let done = ops::buckets::delete_objects(
        &state.ops,
        &who,
        &service_id,
        &acting.choice(),
        &bucket,
        &body.keys,
    )
    .await?;
    Ok(Json(ObjectsDeleted {
        deleted: done.deleted,
        failed: done
            .failed
            .into_iter()
            .map(|(key, code)| NotDeleted { key, code })
            .collect(),
    }))
}

/// The object to download.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadIn {
    #[serde(default)]
    #[schema(min_length = 1)]
    key: String,
}

/// A URL that downloads the object without a key.
#[derive(Serialize, ToSchema)]
pub struct DownloadUrl {
    /// Presigned with the key (its secret stays in Keyport); anyone holding it may download
    /// the object until it expires.
    pub url: String,
    pub expires_in: u64,
}

/// A short-lived URL that downloads an object.
///
/// Signed with the key for a few minutes; audited as a download with the key used.
#[utoipa::path(
    post,
    path = "/projects/{project}/services/{instance_id}/buckets/{bucket}/objects/download-url",
    tag = "buckets",
    params(
        BucketPath,
        ActingParams,
    ),
    request_body = DownloadIn,
    responses(
        (status = 200, description = "The URL", body = DownloadUrl),
        Refusals,
        (status = 409, description = "The caller holds no key, or the service has no S3 endpoint; the message says what to do", body = ApiError),
        (status = 422, description = "The key is missing or not valid", body = ApiError),
    )
)]
async fn download_url_post(
    State(state): State<AppState>,
    ApiPrincipal(who): ApiPrincipal,
    Path(BucketPath {
        instance_id: service_id,
        bucket,
        ..
    }): Path<BucketPath>,
    acting: Result<Query<ActingParams>, QueryRejection>,
    body: Result<Json<DownloadIn>, JsonRejection>,
) -> Result<Json<DownloadUrl>, Failure> {
    let Query(acting) = acting?;
    let Json(body) = body?;
    let url = ops::buckets::download_url(
        &state.ops,
        &who,
        &service_id,
        &acting.choice(),
        &bucket,
        &body.key,
    )
    .await?;
    Ok(Json(DownloadUrl {
        url,
        expires_in: ops::buckets::DOWNLOAD_VALID_FOR.as_secs(),
    }))
}
