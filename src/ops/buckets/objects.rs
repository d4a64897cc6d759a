//! A bucket's objects: one page of a folder, delete one or a selection (one `DeleteObjects`),
//! a short-lived download URL, and uploads streamed from a file.

use std::time::Duration;

use super::{Choice, Console, acting, explain, with_region};
use crate::{
    domain::{audit::AuditAction, buckets},
    ops::{OpError, Ops, Principal},
    providers::s3::{DELETE_BATCH, ObjectEntry, UploadBody},
};

/// Objects on one page of the console; a bucket of any size opens with one request.
pub const PAGE_SIZE: usize = 200;
/// How long a download URL works: long enough for the browser to follow the redirect.
pub const DOWNLOAD_VALID_FOR: Duration = Duration::from_secs(300);

/// One page of a folder of a bucket.
pub struct ObjectsListing {
    pub console: Console,
    pub bucket: String,
    pub prefix: String,
    pub folders: Vec<String>,
    pub objects: Vec<ObjectEntry>,
    /// The continuation token of the next page, if there is one.
    pub next: Option<String>,
}

/// The objects under `prefix` (folders cut at `/`), from `start` (a continuation token).
pub async fn list_objects(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    choice: &Choice,
    bucket: &str,
    prefix: &str,
    start: Option<&str>,
) -> Result<ObjectsListing, OpError> {
    let prefix = buckets::prefix(prefix).map_err(|m| OpError::field("prefix", m))?;
    let mut acting = acting(ops, who, service_id, choice).await?;
    let http = ops.http().clone();
    let page = with_region!(ops, acting, |access| access
        .list_objects(&http, bucket, &prefix, Some("/"), start, PAGE_SIZE)
        .await)
    .map_err(|failure| explain(&acting, Some(bucket), failure))?;
    Ok(ObjectsListing {
        console: acting.console,
        bucket: bucket.to_string(),
        prefix,
        folders: page.folders,
        objects: page.objects,
        next: page.next,
    })
}

/// What came of a Delete of objects.
pub struct DeletedObjects {
    pub deleted: usize,
    /// The keys S3 did not delete, with its code.
    pub failed: Vec<(String, String)>,
}

/// Deletes `keys` of `bucket`, a thousand to a `DeleteObjects`.
pub async fn delete_objects(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    choice: &Choice,
    bucket: &str,
    keys: &[String],
) -> Result<DeletedObjects, OpError> {
    if keys.is_empty() {
        return Err(OpError::field("key", "Choose the objects to delete."));
    }
    let mut acting = acting(ops, who, service_id, choice).await?;
    let http = ops.http().clone();
    let mut failed = Vec::new();
    let mut deleted = 0;
    for batch in keys.chunks(DELETE_BATCH) {
        let refused = with_region!(ops, acting, |access| access
            .delete_objects(&http, bucket, batch)
            .await)
        .map_err(|failure| explain(&acting, Some(bucket), failure))?;
        deleted += batch.len() - refused.len();
        let shown: Vec<&str> = batch.iter().take(5).map(String::as_str).collect();
        let more = batch.len().saturating_sub(shown.len());
        let mut detail = format!(
            "{} of {} objects ({}{}); {}",
            batch.len() - refused.len(),
            batch.len(),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
            acting.key_detail()
        );
        if !refused.is_empty() {
            detail.push_str(&format!("; {} refused", refused.len()));
        }
        ops.record(
            who,
            AuditAction::ObjectDelete,
            &acting.target(bucket),
            &detail,
        )
        .await?;
        failed.extend(refused);
    }
    Ok(DeletedObjects { deleted, failed })
}

/// A URL that downloads `key` from `bucket` for a few minutes, signed with the key (the secret
/// stays here). Audited as a download with the key used.
pub async fn download_url(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    choice: &Choice,
    bucket: &str,
    key: &str,
) -> Result<String, OpError> {
    let key = buckets::object_key(key).map_err(|m| OpError::field("key", m))?;
    let acting = acting(ops, who, service_id, choice).await?;
    let url = acting
        .access
        .download_url(bucket, &key, DOWNLOAD_VALID_FOR)
        .map_err(|failure| explain(&acting, Some(bucket), failure))?;
    let target = format!("{}/{}", acting.target(bucket), key);
    ops.record(
        who,
        AuditAction::ObjectDownload,
        &target,
        &acting.key_detail(),
    )
    .await?;
    Ok(url.to_string())
}

/// Uploads `body` as `key` of `bucket`.
pub async fn upload(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    choice: &Choice,
    bucket: &str,
    key: &str,
    body: UploadBody,
) -> Result<(), OpError> {
    let key = buckets::object_key(key).map_err(|m| OpError::field("file", m))?;
    let length = body.length;
    let acting = acting(ops, who, service_id, choice).await?;
    // The body is read once: a region learned from this answer serves the next request.
    acting
        .access
        .put_object(ops.http(), bucket, &key, body)
        .await
        .map_err(|failure| explain(&acting, Some(bucket), failure))?;
    let target = format!("{}/{}", acting.target(bucket), key);
    let detail = format!("{length} bytes; {}", acting.key_detail());
    ops.record(who, AuditAction::ObjectUpload, &target, &detail)
        .await?;
    Ok(())
}
