//! The body of an upload to the Buckets console, taken aside before the layers that read every
//! other form whole (body limit, NUL check, CSRF), for the upload's handler alone
//! (`web::buckets::upload`). The CSRF check knows an upload by the [`UploadStream`] it finds.

use std::sync::{Arc, Mutex};

use axum::{
    body::Body,
    extract::Request,
    http::{Method, header},
    middleware::Next,
    response::Response,
};

/// The body of an upload, taken aside by [`stash_upload`] for the handler alone.
#[derive(Clone)]
pub struct UploadStream(Arc<Mutex<Option<Body>>>);

impl UploadStream {
    pub fn take(&self) -> Option<Body> {
        self.0.lock().ok().and_then(|mut body| body.take())
    }
}

/// Whether `path` is the upload route: `/projects/*/services/*/buckets/*/objects/upload`.
fn is_upload(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    matches!(
        parts.as_slice(),
        ["", "projects", p, "services", s, "buckets", b, "objects", "upload"]
            if !p.is_empty() && !s.is_empty() && !b.is_empty()
    )
}

/// Takes the body of a multipart POST to the upload route aside, before the layers that read
/// bodies whole; every other request passes untouched.
pub async fn stash_upload(mut request: Request, next: Next) -> Response {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if request.method() == Method::POST && multipart && is_upload(request.uri().path()) {
        let body = std::mem::replace(request.body_mut(), Body::empty());
        request
            .extensions_mut()
            .insert(UploadStream(Arc::new(Mutex::new(Some(body)))));
        request.headers_mut().remove(header::CONTENT_LENGTH);
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::is_upload;

    #[test]
    fn only_the_upload_route_is_taken_aside() {
        assert!(is_upload(
            "/projects/team/services/s1/buckets/b/objects/upload"
        ));
        for other in [
            "/projects/team/services/s1/buckets/b/objects/delete",
            "/projects/team/services/s1/buckets",
            "/projects//services/s1/buckets/b/objects/upload",
            "/projects/team/services/s1/buckets/b/objects/upload/x",
            "/api/v1/projects/team/services/s1/buckets/b/objects/upload",
        ] {
            assert!(!is_upload(other), "{other}");
        }
    }
}
