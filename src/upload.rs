//! The body of an upload to the Buckets console, from the page's form or the API's `PUT`: taken
//! aside before the layers that read every other body whole (body limit, NUL check, CSRF), and
//! written to a temporary file as it arrives (S3 wants the length first), never held in memory.
//! The CSRF check knows a page's upload by the [`UploadStream`] it finds.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Body,
    extract::Request,
    http::{Method, header},
    middleware::Next,
    response::Response,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::ops::buckets::UploadBody;

/// The body of an upload, taken aside by [`stash_upload`] for the handler alone.
#[derive(Clone)]
pub struct UploadStream(Arc<Mutex<Option<Body>>>);

impl UploadStream {
    pub fn take(&self) -> Option<Body> {
        self.0.lock().ok().and_then(|mut body| body.take())
    }
}

/// Whether the request is an upload: a multipart POST to the page's
/// `/projects/*/services/*/buckets/*/objects/upload`, or a PUT to the API's
/// `/api/v1/projects/*/services/*/buckets/*/objects`.
fn is_upload(method: &Method, path: &str, multipart: bool) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [
            "",
            "projects",
            p,
            "services",
            s,
            "buckets",
            b,
            "objects",
            "upload",
        ] => *method == Method::POST && multipart && ![p, s, b].iter().any(|x| x.is_empty()),
        [
            "",
            "api",
            "v1",
            "projects",
            p,
            "services",
            s,
            "buckets",
            b,
            "objects",
        ] => *method == Method::PUT && ![p, s, b].iter().any(|x| x.is_empty()),
        _ => false,
    }
}

/// Takes the body of an upload aside, before the layers that read bodies whole; every other
/// request passes untouched.
pub async fn stash_upload(mut request: Request, next: Next) -> Response {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if is_upload(request.method(), request.uri().path(), multipart) {
        let body = std::mem::replace(request.body_mut(), Body::empty());
        request
            .extensions_mut()
            .insert(UploadStream(Arc::new(Mutex::new(Some(body)))));
        request.headers_mut().remove(header::CONTENT_LENGTH);
    }
    next.run(request).await
}

/// Why an upload was not read; nothing was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unread {
    TooLarge,
    Broken,
    Slow,
}

impl Unread {
    /// What to tell the uploader, with the instance's limit in megabytes.
    pub fn message(self, limit_megabytes: u64) -> String {
        match self {
            Unread::TooLarge => format!(
                "The file is larger than {limit_megabytes} MB, the most this portal uploads: use an S3 client for it (the bucket's commands are on the Buckets page)."
            ),
            Unread::Broken => {
                "The upload broke off before the file was complete; nothing was stored. Try again."
                    .into()
            }
            Unread::Slow => {
                "The upload was too slow and was stopped; nothing was stored. Try again.".into()
            }
        }
    }
}

/// A file being written aside: at most `limit` bytes, with their SHA-256 (S3 checks it).
pub struct Spool {
    file: tokio::fs::File,
    length: u64,
    limit: u64,
    digest: Sha256,
}

impl Spool {
    /// An unnamed temporary file (gone when closed).
    pub fn new(limit: u64) -> Result<Spool, Unread> {
        let file = tempfile::tempfile().map_err(|e| {
            tracing::error!(error = %e, "cannot create a temporary file for an upload");
            Unread::Broken
        })?;
        Ok(Spool {
            file: tokio::fs::File::from_std(file),
            length: 0,
            limit,
            digest: Sha256::new(),
        })
    }

    pub async fn push(&mut self, chunk: &[u8]) -> Result<(), Unread> {
        self.length += chunk.len() as u64;
        if self.length > self.limit {
            return Err(Unread::TooLarge);
        }
        self.digest.update(chunk);
        self.file.write_all(chunk).await.map_err(|e| {
            tracing::error!(error = %e, "cannot write an upload to its temporary file");
            Unread::Broken
        })
    }

    /// The file rewound, ready to be sent.
    pub async fn finish(mut self, content_type: String) -> Result<UploadBody, Unread> {
        self.file.flush().await.map_err(|_| Unread::Broken)?;
        self.file.rewind().await.map_err(|_| Unread::Broken)?;
        Ok(UploadBody {
            file: self.file,
            length: self.length,
            sha256: crate::crypto::hex(&self.digest.finalize()),
            content_type,
        })
    }
}

/// Writes a whole body aside, each piece within `idle`.
pub async fn spool_body(
    body: Body,
    limit: u64,
    idle: Duration,
    content_type: String,
) -> Result<UploadBody, Unread> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut spool = Spool::new(limit)?;
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(Unread::Slow),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(Unread::Broken),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            spool.push(&data).await?;
        }
    }
    spool.finish(content_type).await
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::is_upload;

    #[test]
    fn only_the_upload_routes_are_taken_aside() {
        assert!(is_upload(
            &Method::POST,
            "/projects/team/services/s1/buckets/b/objects/upload",
            true
        ));
        assert!(is_upload(
            &Method::PUT,
            "/api/v1/projects/team/services/s1/buckets/b/objects",
            false
        ));
        for (method, other, multipart) in [
            (
                Method::POST,
                "/projects/team/services/s1/buckets/b/objects/upload",
                false,
            ),
            (
                Method::POST,
                "/projects/team/services/s1/buckets/b/objects/delete",
                true,
            ),
            (Method::POST, "/projects/team/services/s1/buckets", true),
            (
                Method::POST,
                "/projects//services/s1/buckets/b/objects/upload",
                true,
            ),
            (
                Method::POST,
                "/projects/team/services/s1/buckets/b/objects/upload/x",
                true,
            ),
            (
                Method::POST,
                "/api/v1/projects/team/services/s1/buckets/b/objects/upload",
                true,
            ),
            (
                Method::GET,
                "/api/v1/projects/team/services/s1/buckets/b/objects",
                false,
            ),
            (
                Method::POST,
                "/api/v1/projects/team/services/s1/buckets/b/objects",
                false,
            ),
            (
                Method::PUT,
                "/api/v1/projects/team/services//buckets/b/objects",
                false,
            ),
        ] {
            assert!(!is_upload(&method, other, multipart), "{method} {other}");
        }
    }
}
