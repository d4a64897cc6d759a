//! `/projects/{slug}/services/{id}/buckets`: the Buckets console of an S3-capable service, with
//! the member's own key: the buckets (add, delete) here, a bucket's objects in `objects`, and the
//! streamed upload in `upload`.

mod objects;
mod upload;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;

use super::{
    AppState, PageError,
    confirm::{ConfirmPage, Confirmation},
    extract::ProjectMember,
    forms::FieldErrors,
    session,
    view::{Ctx, FAILED_MARK, OK_MARK, WARNING_MARK},
};
use crate::{
    ops::{
        self, OpError, Project,
        buckets::{BucketDeletion, BucketEntry, Choice, Console},
    },
    snippets,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/projects/{slug}/services/{id}/buckets",
            get(buckets_get).post(bucket_create_post),
        )
        .route(
            "/projects/{slug}/services/{id}/buckets/{bucket}/delete",
            post(bucket_delete_post),
        )
        .merge(objects::router())
        .merge(upload::router())
}

/// Which key and site the page acts with, as links and forms carry them.
#[derive(Deserialize, Default, Clone)]
pub struct Acting {
    #[serde(default)]
    pub credential: String,
    #[serde(default)]
    pub site: String,
}

impl Acting {
    pub fn choice(&self) -> Choice {
        let some = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
        Choice {
            key: some(&self.credential),
            site: some(&self.site),
        }
    }
}

/// The console's base URL for a service.
pub fn console_url(project: &Project, service_id: &str) -> String {
    format!("/projects/{}/services/{service_id}/buckets", project.slug)
}

/// A folder of a bucket (`bucket_url`: the bucket's page) with the key and site a form named.
pub fn folder_url(bucket_url: &str, acting: &Acting, prefix: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("credential", &acting.credential);
    query.append_pair("site", &acting.site);
    query.append_pair("prefix", prefix);
    format!("{bucket_url}?{}", query.finish())
}

/// An S3 time (ISO 8601) as the pages show it: `2026-12-06 10:37:15`.
pub fn shown_time(iso: &str) -> String {
    iso.chars().take(19).collect::<String>().replace('T', " ")
}

/// The query that keeps the key and site chosen: `credential=..&site=..`.
pub fn acting_query(console: &Console) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(key) = &console.key {
        query.append_pair("credential", &key.id);
    }
    if let Some(site) = &console.site {
        query.append_pair("site", &site.id);
    }
    query.finish()
}

/// A bucket as the page lists it, with its URLs and ready-made commands.
pub struct BucketRow {
    pub name: String,
    pub created: String,
    pub path_url: String,
    pub virtual_url: String,
    pub commands: Vec<(&'static str, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "buckets.html")]
struct BucketsPage {
    ctx: Ctx,
    project: Project,
    console: Console,
    acting_query: String,
    buckets: Vec<BucketRow>,
    problem: Option<String>,
    name: String,
    errors: FieldErrors,
}

impl BucketsPage {
    fn base(&self) -> String {
        console_url(&self.project, &self.console.service.id)
    }
}

fn rows(project: &Project, console: &Console, buckets: Vec<BucketEntry>) -> Vec<BucketRow> {
    let profile = snippets::profile_name(&project.slug, &console.service.name);
    buckets
        .into_iter()
        .map(|b| {
            let urls = console.bucket_urls(&b.name);
            let commands = vec![
                (
                    "AWS CLI",
                    format!("aws --profile {profile} s3 ls s3://{}/", b.name),
                ),
                ("rclone", format!("rclone ls {profile}:{}", b.name)),
                (
                    "s3cmd",
                    format!("s3cmd -c ~/.s3cfg-{profile} ls s3://{}/", b.name),
                ),
            ];
            BucketRow {
                path_url: urls.path_style,
                virtual_url: urls.virtual_hosted,
                commands,
                created: shown_time(&b.created),
                name: b.name,
            }
        })
        .collect()
}

async fn buckets_page(
    state: &AppState,
    member: ProjectMember,
    id: &str,
    acting: &Acting,
) -> Result<BucketsPage, PageError> {
    let listing = ops::buckets::list_buckets(&state.ops, &member, id, &acting.choice()).await?;
    let project = member.principal.project().clone();
    Ok(BucketsPage {
        acting_query: acting_query(&listing.console),
        buckets: rows(&project, &listing.console, listing.buckets),
        console: listing.console,
        problem: listing.problem,
        project,
        ctx: member.ctx,
        name: String::new(),
        errors: FieldErrors::default(),
    })
}

async fn buckets_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Query(acting): Query<Acting>,
) -> Result<BucketsPage, PageError> {
    buckets_page(&state, member, &id, &acting).await
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(flatten)]
    acting: Acting,
    #[serde(default)]
    name: String,
}

async fn bucket_create_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<CreateForm>,
) -> Result<Response, PageError> {
    let choice = form.acting.choice();
    let created = ops::buckets::create_bucket(&state.ops, &member, &id, &choice, &form.name).await;
    let errors = match created {
        Ok((name, console)) => {
            session::set_notice(
                &member.session,
                format!("{OK_MARK}Bucket {name} created in {}.", console.region()),
            )
            .await?;
            let back = format!(
                "{}?{}",
                console_url(member.project(), &id),
                acting_query(&console)
            );
            return Ok(Redirect::to(&back).into_response());
        }
        Err(OpError::Invalid(errors)) => errors,
        Err(OpError::Refused(message)) => FieldErrors::one("name", message),
        Err(e) => return Err(e.into()),
    };
    let mut page = buckets_page(&state, member, &id, &form.acting).await?;
    page.name = form.name;
    page.errors = errors;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

#[derive(Deserialize)]
struct DeleteForm {
    #[serde(flatten)]
    acting: Acting,
    #[serde(flatten)]
    confirmation: Confirmation,
    /// Set to empty the bucket first (admins and owners), with its name typed again.
    #[serde(default)]
    empty: String,
    #[serde(default)]
    confirm_name: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "bucket_not_empty.html")]
struct NotEmptyPage {
    ctx: Ctx,
    console: Console,
    bucket: String,
    objects: String,
    back: String,
    action: String,
    typed: String,
    error: String,
}

async fn bucket_delete_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id, bucket)): Path<(String, String, String)>,
    Form(form): Form<DeleteForm>,
) -> Result<Response, PageError> {
    let choice = form.acting.choice();
    // Confirmed, the operation decides first: a role that may not empty a bucket is told so
    // whichever key is named, as the API tells it.
    let outcome = if form.confirmation.given() {
        let empty_first = (form.empty == "yes").then_some(form.confirm_name.as_str());
        Some(
            ops::buckets::delete_bucket(&state.ops, &member, &id, &choice, &bucket, empty_first)
                .await,
        )
    } else {
        None
    };
    if let Some(Err(e @ (OpError::Forbidden(_) | OpError::NotFound))) = outcome {
        return Err(e.into());
    }
    let console = ops::buckets::console(&state.ops, &member, &id, &choice).await?;
    let query = acting_query(&console);
    let base = console_url(member.project(), &id);
    let back = format!("{base}?{query}");
    let action = format!("{base}/{}/delete", encode(&bucket));
    let fields = vec![
        ("credential", form.acting.credential.clone()),
        ("site", form.acting.site.clone()),
    ];
    let Some(outcome) = outcome else {
        return Ok(ConfirmPage {
            title: format!("Delete the bucket {bucket}?"),
            message: "It is deleted at the S3 service at once, for everyone who uses it. A bucket that holds objects is not deleted.".into(),
            action,
            button: "Delete bucket",
            back,
            alternative: None,
            fields,
            ctx: member.ctx,
        }
        .into_response());
    };
    let objects = match outcome {
        Ok(BucketDeletion::Deleted { emptied }) => {
            let notice = if emptied > 0 {
                format!("{OK_MARK}Bucket {bucket} deleted, with its {emptied} objects.")
            } else {
                format!("{OK_MARK}Bucket {bucket} deleted.")
            };
            session::set_notice(&member.session, notice).await?;
            return Ok(Redirect::to(&back).into_response());
        }
        Ok(BucketDeletion::NotEmpty { objects }) => objects,
        Err(OpError::Invalid(errors)) => {
            let page = NotEmptyPage {
                objects: String::new(),
                error: errors.get("confirm_name").unwrap_or_default().to_string(),
                typed: form.confirm_name,
                ctx: member.ctx,
                console,
                bucket,
                back,
                action,
            };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
        Err(e) => return refused(&member, e, &back).await,
    };
    let count = match objects {
        Some(n) => format!("{n} objects"),
        None => format!("more than {} objects", ops::buckets::COUNT_CAP),
    };
    session::set_notice(
        &member.session,
        format!("{WARNING_MARK}The bucket {bucket} holds {count}: it was not deleted."),
    )
    .await?;
    let page = NotEmptyPage {
        objects: count,
        error: String::new(),
        typed: String::new(),
        ctx: member.ctx,
        console,
        bucket,
        back,
        action,
    };
    Ok((StatusCode::CONFLICT, page).into_response())
}

/// An operation S3 refused: back to the page with the message as a notice. Other errors are
/// error pages.
pub(super) async fn refused(
    member: &ProjectMember,
    error: OpError,
    back: &str,
) -> Result<Response, PageError> {
    match error {
        OpError::Refused(message) => {
            session::set_notice(&member.session, format!("{FAILED_MARK}{message}")).await?;
            Ok(Redirect::to(back).into_response())
        }
        OpError::Invalid(errors) => {
            let message = errors
                .iter()
                .map(|(_, m)| m.to_string())
                .collect::<Vec<_>>()
                .join(" ");
            session::set_notice(&member.session, format!("{FAILED_MARK}{message}")).await?;
            Ok(Redirect::to(back).into_response())
        }
        OpError::Backend(e) => {
            session::set_notice(&member.session, format!("{FAILED_MARK}{e}")).await?;
            Ok(Redirect::to(back).into_response())
        }
        e => Err(e.into()),
    }
}

/// A path segment or query value, percent-encoded.
pub fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}
