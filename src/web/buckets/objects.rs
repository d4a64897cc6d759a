//! A bucket's objects: a folder's page (prefix and `/`), deleting one or a selection, and the
//! download (a redirect to a URL presigned for a few minutes).

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Router,
    body::Bytes,
    extract::{Path, Query, State},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;

use super::{Acting, acting_query, console_url, encode, folder_url, refused, shown_time};
use crate::{
    ops::{
        self, Project,
        buckets::{Console, ObjectEntry},
    },
    web::{
        AppState, PageError,
        confirm::ConfirmPage,
        extract::ProjectMember,
        headers::FormTarget,
        session,
        view::{Ctx, FAILED_MARK, OK_MARK, WARNING_MARK},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/projects/{slug}/services/{id}/buckets/{bucket}",
            get(objects_get),
        )
        .route(
            "/projects/{slug}/services/{id}/buckets/{bucket}/objects/delete",
            post(objects_delete_post),
        )
        .route(
            "/projects/{slug}/services/{id}/buckets/{bucket}/objects/download",
            post(object_download_post),
        )
}

#[derive(Deserialize, Default)]
struct ObjectsQuery {
    #[serde(flatten)]
    acting: Acting,
    #[serde(default)]
    prefix: String,
    /// The continuation token of the page.
    #[serde(default)]
    start: String,
}

/// A folder on the page: its name under the prefix, and the link that opens it.
pub struct FolderRow {
    pub name: String,
    pub link: String,
}

/// An object on the page: its name under the prefix, and its whole key.
pub struct ObjectRow {
    pub name: String,
    pub entry: ObjectEntry,
    pub size: String,
    pub modified: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "bucket.html")]
struct ObjectsPage {
    ctx: Ctx,
    project: Project,
    console: Console,
    bucket: String,
    prefix: String,
    /// The path to the folder as (name, link) steps.
    crumbs: Vec<(String, String)>,
    folders: Vec<FolderRow>,
    objects: Vec<ObjectRow>,
    /// The links to the next page and back to the first one.
    next: Option<String>,
    first: Option<String>,
    base: String,
    acting_query: String,
    upload_limit: u64,
}

/// Bytes as people read them.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

async fn objects_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id, bucket)): Path<(String, String, String)>,
    Query(query): Query<ObjectsQuery>,
) -> Result<Response, PageError> {
    let start = (!query.start.is_empty()).then_some(query.start.as_str());
    let listing = ops::buckets::list_objects(
        &state.ops,
        &member,
        &id,
        &query.acting.choice(),
        &bucket,
        &query.prefix,
        start,
    )
    .await?;
    let project = member.principal.project().clone();
    let base = format!("{}/{}", console_url(&project, &id), encode(&bucket));
    let acting = acting_query(&listing.console);
    let folder_link = |prefix: &str| format!("{base}?{acting}&prefix={}", encode(prefix));
    let mut crumbs = vec![(listing.bucket.clone(), format!("{base}?{acting}"))];
    let mut walked = String::new();
    for part in listing.prefix.split_inclusive('/') {
        walked.push_str(part);
        crumbs.push((part.to_string(), folder_link(&walked)));
    }
    let prefix = listing.prefix.clone();
    let under = |key: &str| key.strip_prefix(prefix.as_str()).unwrap_or(key).to_string();
    let folders = listing
        .folders
        .iter()
        .map(|f| FolderRow {
            name: under(f),
            link: folder_link(f),
        })
        .collect();
    let objects = listing
        .objects
        .into_iter()
        .map(|o| ObjectRow {
            name: under(&o.key),
            size: size(o.size),
            modified: shown_time(&o.last_modified),
            entry: o,
        })
        .collect();
    let here = folder_link(&listing.prefix);
    // The Download buttons answer with a redirect to the S3 endpoint.
    let s3_origin = url::Url::parse(&listing.console.s3_url)
        .ok()
        .map(|u| u.origin());
    let page = ObjectsPage {
        next: listing
            .next
            .as_ref()
            .map(|token| format!("{here}&start={}", encode(token))),
        first: start.map(|_| here.clone()),
        upload_limit: state.config.upload_max_megabytes,
        acting_query: acting,
        crumbs,
        folders,
        objects,
        base,
        prefix: listing.prefix,
        bucket: listing.bucket,
        console: listing.console,
        project,
        ctx: member.ctx,
    };
    let mut response = page.into_response();
    if let Some(origin) = s3_origin {
        response.extensions_mut().insert(FormTarget(origin));
    }
    Ok(response)
}

/// The fields of an objects form: the key and site, the folder, and the objects (repeated).
struct ObjectsForm {
    acting: Acting,
    prefix: String,
    objects: Vec<String>,
    confirmed: bool,
}

impl ObjectsForm {
    fn parse(body: &[u8]) -> ObjectsForm {
        let mut form = ObjectsForm {
            acting: Acting::default(),
            prefix: String::new(),
            objects: Vec::new(),
            confirmed: false,
        };
        for (name, value) in form_urlencoded::parse(body) {
            match name.as_ref() {
                "credential" => form.acting.credential = value.into_owned(),
                "site" => form.acting.site = value.into_owned(),
                "prefix" => form.prefix = value.into_owned(),
                "object" => form.objects.push(value.into_owned()),
                "confirm" => form.confirmed = value == "yes",
                _ => {}
            }
        }
        form
    }

    fn back(&self, base: &str) -> String {
        folder_url(base, &self.acting, &self.prefix)
    }
}

async fn objects_delete_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id, bucket)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = ObjectsForm::parse(&body);
    let base = format!("{}/{}", console_url(member.project(), &id), encode(&bucket));
    let back = form.back(&base);
    if form.objects.is_empty() {
        session::set_notice(
            &member.session,
            format!("{WARNING_MARK}Choose the objects to delete first."),
        )
        .await?;
        return Ok(Redirect::to(&back).into_response());
    }
    if !form.confirmed {
        // Nothing is shown of a bucket the member may not reach with this key.
        ops::buckets::console(&state.ops, &member, &id, &form.acting.choice()).await?;
        let shown: Vec<&str> = form.objects.iter().take(10).map(String::as_str).collect();
        let more = form.objects.len() - shown.len();
        let mut fields = vec![
            ("credential", form.acting.credential.clone()),
            ("site", form.acting.site.clone()),
            ("prefix", form.prefix.clone()),
        ];
        fields.extend(form.objects.iter().map(|o| ("object", o.clone())));
        let title = if form.objects.len() == 1 {
            format!("Delete {} from {bucket}?", form.objects[0])
        } else {
            format!("Delete {} objects from {bucket}?", form.objects.len())
        };
        let listed = if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        };
        return Ok(ConfirmPage {
            title,
            message: format!(
                "{listed}: deleted at the S3 service at once, for everyone; a bucket without versioning keeps no copy."
            ),
            action: format!("{base}/objects/delete"),
            button: "Delete",
            back,
            alternative: None,
            fields,
            ctx: member.ctx,
        }
        .into_response());
    }
    let deleted = ops::buckets::delete_objects(
        &state.ops,
        &member,
        &id,
        &form.acting.choice(),
        &bucket,
        &form.objects,
    )
    .await;
    match deleted {
        Ok(outcome) if outcome.failed.is_empty() => {
            let notice = if outcome.deleted == 1 {
                format!("{OK_MARK}{} deleted.", form.objects[0])
            } else {
                format!("{OK_MARK}{} objects deleted.", outcome.deleted)
            };
            session::set_notice(&member.session, notice).await?;
            Ok(Redirect::to(&back).into_response())
        }
        Ok(outcome) => {
            let (key, code) = &outcome.failed[0];
            session::set_notice(
                &member.session,
                format!(
                    "{FAILED_MARK}{} of {} objects deleted; the S3 endpoint refused {} of them, e.g. {key} ({code}).",
                    outcome.deleted,
                    form.objects.len(),
                    outcome.failed.len()
                ),
            )
            .await?;
            Ok(Redirect::to(&back).into_response())
        }
        Err(e) => refused(&member, e, &back).await,
    }
}

async fn object_download_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id, bucket)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = ObjectsForm::parse(&body);
    let base = format!("{}/{}", console_url(member.project(), &id), encode(&bucket));
    let back = form.back(&base);
    let [object] = form.objects.as_slice() else {
        return Err(PageError::BadRequest("Choose one object to download."));
    };
    match ops::buckets::download_url(
        &state.ops,
        &member,
        &id,
        &form.acting.choice(),
        &bucket,
        object,
    )
    .await
    {
        Ok(url) => Ok(Redirect::to(&url).into_response()),
        Err(e) => refused(&member, e, &back).await,
    }
}
