//! The upload form: a file as large as the instance allows (`KEYPORT_UPLOAD_MAX_MEGABYTES`),
//! written aside as it arrives and streamed from there to S3 (`crate::upload`).
//!
//! Every other form is read whole, within 64 KiB, by the layers in front of the handlers (body
//! limit, NUL check, CSRF). The upload's body is taken aside before them: those layers see an
//! empty body, the CSRF token comes in the form's URL, and the handler reads the body itself,
//! within the size limit and the body timeout for each piece.

use std::time::Duration;

use axum::{
    Router,
    extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::post,
};

use super::{Acting, console_url, encode, folder_url, refused};
use crate::{
    ops::{self, buckets::UploadBody},
    upload::{Spool, Unread, UploadStream},
    web::{
        AppState, PageError,
        extract::ProjectMember,
        session,
        view::{FAILED_MARK, OK_MARK},
    },
};

const ROUTE: &str = "/projects/{slug}/services/{id}/buckets/{bucket}/objects/upload";

pub fn router() -> Router<AppState> {
    Router::new().route(ROUTE, post(upload_post).layer(DefaultBodyLimit::disable()))
}

/// The text fields of the upload form, and the file once written aside.
#[derive(Default)]
struct UploadForm {
    acting: Acting,
    prefix: String,
    /// The object's name under the prefix when given; else the file's own name.
    name: String,
    file: Option<(String, UploadBody)>,
}

async fn upload_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id, bucket)): Path<(String, String, String)>,
    request: Request,
) -> Result<Response, PageError> {
    let base = format!("{}/{}", console_url(member.project(), &id), encode(&bucket));
    let body = request
        .extensions()
        .get::<UploadStream>()
        .and_then(UploadStream::take)
        .ok_or(PageError::BadRequest(
            "The upload is not a form with a file.",
        ))?;
    let (parts, _) = request.into_parts();
    let multipart = Multipart::from_request(Request::from_parts(parts, body), &state)
        .await
        .map_err(|_| PageError::BadRequest("The upload is not a form with a file."))?;
    let limit = state.config.upload_max_megabytes * 1024 * 1024;
    let idle = state.config.limits.body_timeout();
    let form = read_form(multipart, limit, idle).await;
    let form = match form {
        Ok(form) => form,
        Err(unread) => {
            let message = unread.message(state.config.upload_max_megabytes);
            let status = match unread {
                Unread::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            return Err(PageError::Refused(status, message));
        }
    };
    let back = folder_url(&base, &form.acting, &form.prefix);
    let Some((file_name, body)) = form.file else {
        session::set_notice(
            &member.session,
            format!("{FAILED_MARK}Choose a file to upload."),
        )
        .await?;
        return Ok(Redirect::to(&back).into_response());
    };
    let name = if form.name.trim().is_empty() {
        file_name
    } else {
        form.name
    };
    let key = format!("{}{name}", form.prefix);
    let length = body.length;
    let uploaded = ops::buckets::upload(
        &state.ops,
        &member,
        &id,
        &form.acting.choice(),
        &bucket,
        &key,
        body,
    )
    .await;
    match uploaded {
        Ok(()) => {
            session::set_notice(
                &member.session,
                format!(
                    "{OK_MARK}{key} uploaded ({}).",
                    super::objects::size(length)
                ),
            )
            .await?;
            Ok(Redirect::to(&back).into_response())
        }
        Err(e) => refused(&member, e, &back).await,
    }
}

/// Reads the form: text fields into memory (small), the file into a temporary file, at most
/// `limit` bytes, each piece within `idle`.
async fn read_form(
    mut multipart: Multipart,
    limit: u64,
    idle: Duration,
) -> Result<UploadForm, Unread> {
    let mut form = UploadForm::default();
    loop {
        let mut field = match tokio::time::timeout(idle, multipart.next_field()).await {
            Err(_) => return Err(Unread::Slow),
            Ok(Err(_)) => return Err(Unread::Broken),
            Ok(Ok(None)) => return Ok(form),
            Ok(Ok(Some(field))) => field,
        };
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let file_name = field.file_name().unwrap_or_default().to_string();
            let content_type = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_string();
            let mut spool = Spool::new(limit)?;
            loop {
                match tokio::time::timeout(idle, field.chunk()).await {
                    Err(_) => return Err(Unread::Slow),
                    Ok(Err(_)) => return Err(Unread::Broken),
                    Ok(Ok(None)) => break,
                    Ok(Ok(Some(chunk))) => spool.push(&chunk).await?,
                }
            }
            let body = spool.finish(content_type).await?;
            if !file_name.is_empty() {
                form.file = Some((file_name, body));
            }
            continue;
        }
        let value = match tokio::time::timeout(idle, field.text()).await {
            Err(_) => return Err(Unread::Slow),
            Ok(Err(_)) => return Err(Unread::Broken),
            Ok(Ok(value)) => value,
        };
        if value.len() > 4096 {
            return Err(Unread::TooLarge);
        }
        match name.as_str() {
            "credential" => form.acting.credential = value,
            "site" => form.acting.site = value,
            "prefix" => form.prefix = value,
            "name" => form.name = value,
            _ => {}
        }
    }
}
