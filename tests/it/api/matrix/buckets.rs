//! Who may act at a service's S3 API through the Buckets console: every caller of the matrix,
//! with the member's key and with the app `backup`'s key, through the API and through the pages.
//! The service's endpoint is a moto that checks no signature, so that every answer is Keyport's
//! decision (what S3 itself accepts is tested against moto with signatures and Swift's s3api in
//! `buckets/`). The buckets are put back between operations straight at moto.

use reqwest::Method;
use serde_json::{Value, json};

use super::{
    Answer, F, N, O, Op, Target,
    Target::{AppKey, MemberKey},
    U, arrange,
    requests::{PageCall, PageRequest},
    world::World,
};
use crate::backends::Moto;

/// What is done at the S3 API.
#[derive(Clone, Copy, Debug)]
pub(super) enum BucketOp {
    List,
    Create,
    /// The empty bucket `spare`.
    Delete,
    /// The bucket `full` with its object, its name typed again.
    Empty,
    /// Of the bucket `kept`, which holds `a.txt`.
    Objects,
    DeleteObjects,
    Download,
    Upload,
}

const BUCKET_OPS: [Op; 16] = [
    Op::Bucket(BucketOp::List, MemberKey),
    Op::Bucket(BucketOp::Create, MemberKey),
    Op::Bucket(BucketOp::Delete, MemberKey),
    Op::Bucket(BucketOp::Empty, MemberKey),
    Op::Bucket(BucketOp::Objects, MemberKey),
    Op::Bucket(BucketOp::DeleteObjects, MemberKey),
    Op::Bucket(BucketOp::Download, MemberKey),
    Op::Bucket(BucketOp::Upload, MemberKey),
    Op::Bucket(BucketOp::List, AppKey),
    Op::Bucket(BucketOp::Create, AppKey),
    Op::Bucket(BucketOp::Delete, AppKey),
    Op::Bucket(BucketOp::Empty, AppKey),
    Op::Bucket(BucketOp::Objects, AppKey),
    Op::Bucket(BucketOp::DeleteObjects, AppKey),
    Op::Bucket(BucketOp::Download, AppKey),
    Op::Bucket(BucketOp::Upload, AppKey),
];

/// The answer each caller of [`super::CALLERS`] gets for each operation of [`BUCKET_OPS`]: a
/// member acts with their own key only, admins and owners with an app's key too (never another
/// member's), an app with its own; only admins and owners empty a bucket to delete it.
#[rustfmt::skip]
const BUCKETS: [[Answer; 16]; 13] = [
    // with the member's key:                 | with app backup's key:
    // list make del empty objs del-o get put | list make del empty objs del-o get put
    [N, N, N, N,   N, N, N, N,                  O, O, O, O,   O, O, O, O], // owner
    [N, N, N, N,   N, N, N, N,                  O, O, O, O,   O, O, O, O], // admin
    [O, O, O, F,   O, O, O, O,                  N, N, N, F,   N, N, N, N], // member
    [N, N, N, F,   N, N, N, N,                  N, N, N, F,   N, N, N, N], // other member
    [F, F, F, F,   F, F, F, F,                  F, F, F, F,   F, F, F, F], // viewer
    [N, N, N, N,   N, N, N, N,                  N, N, N, N,   N, N, N, N], // non-member
    [N, N, N, F,   N, N, N, N,                  O, O, O, F,   O, O, O, O], // app backup
    [N, N, N, F,   N, N, N, N,                  N, N, N, F,   N, N, N, N], // app ci
    [U, U, U, U,   U, U, U, U,                  U, U, U, U,   U, U, U, U], // disabled key
    [N, N, N, N,   N, N, N, N,                  N, N, N, N,   N, N, N, N], // removed member
    [U, U, U, U,   U, U, U, U,                  U, U, U, U,   U, U, U, U], // disabled user
    [U, U, U, U,   U, U, U, U,                  U, U, U, U,   U, U, U, U], // tampered token
    [U, U, U, U,   U, U, U, U,                  U, U, U, U,   U, U, U, U], // no token
];

#[tokio::test]
async fn every_caller_gets_the_buckets_answer_the_pages_give() {
    let moto = Moto::start_open().await;
    let (mut world, callers) = arrange().await;
    world.serve_buckets_at(&moto.url).await;
    let rows = BUCKETS.iter().map(|r| &r[..]).collect();
    let wrong = super::compare(&mut world, &callers, &BUCKET_OPS, rows).await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The buckets at moto between operations.
const KEPT: &str = "kept";
const SPARE: &str = "spare";
const FULL: &str = "full";

impl World {
    /// Points the service's first endpoint at `url`, and fills it.
    async fn serve_buckets_at(&mut self, url: &str) {
        sqlx::query("update endpoints set url = $1 where id = $2")
            .bind(url)
            .bind(&self.endpoint)
            .execute(self.api.app.db.pool())
            .await
            .unwrap();
        self.s3 = Some(url.to_string());
        self.restore().await;
    }

    fn console_path(&self) -> String {
        format!("/projects/team/services/{}/buckets", self.service)
    }

    pub(super) fn bucket_api_request(
        &self,
        op: BucketOp,
        target: Target,
    ) -> (Method, String, Option<Value>) {
        let base = self.console_path();
        let key = format!("credential={}", self.target(target));
        match op {
            BucketOp::List => (Method::GET, format!("{base}?{key}"), None),
            BucketOp::Create => (
                Method::POST,
                format!("{base}?{key}"),
                Some(json!({"name": "made-here"})),
            ),
            BucketOp::Delete => (Method::DELETE, format!("{base}/{SPARE}?{key}"), None),
            BucketOp::Empty => (
                Method::DELETE,
                format!("{base}/{FULL}?{key}&empty={FULL}"),
                None,
            ),
            BucketOp::Objects => (Method::GET, format!("{base}/{KEPT}/objects?{key}"), None),
            BucketOp::DeleteObjects => (
                Method::POST,
                format!("{base}/{KEPT}/objects/delete?{key}"),
                Some(json!({"keys": ["a.txt"]})),
            ),
            BucketOp::Download => (
                Method::POST,
                format!("{base}/{KEPT}/objects/download-url?{key}"),
                Some(json!({"key": "a.txt"})),
            ),
            // The JSON body is the object's content.
            BucketOp::Upload => (
                Method::PUT,
                format!("{base}/{KEPT}/objects?{key}&key=up.json"),
                Some(json!({"up": true})),
            ),
        }
    }

    pub(super) fn bucket_page_request(&self, op: BucketOp, target: Target) -> PageRequest {
        let base = self.console_path();
        let credential = self.target(target).to_string();
        let post = |path: String, fields: &[(&'static str, &str)], done: String| {
            let mut all = vec![("credential", credential.clone())];
            all.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
            PageRequest {
                path,
                fields: Some(all),
                done,
                call: PageCall::Form,
            }
        };
        let objects = format!("{base}/{KEPT}");
        match op {
            BucketOp::List => PageRequest::get(format!("{base}?credential={credential}")),
            BucketOp::Create => post(base.clone(), &[("name", "made-here")], base),
            BucketOp::Delete => post(
                format!("{base}/{SPARE}/delete"),
                &[("confirm", "yes")],
                base,
            ),
            BucketOp::Empty => post(
                format!("{base}/{FULL}/delete"),
                &[("confirm", "yes"), ("empty", "yes"), ("confirm_name", FULL)],
                base,
            ),
            BucketOp::Objects => PageRequest::get(format!("{objects}?credential={credential}")),
            BucketOp::DeleteObjects => post(
                format!("{objects}/objects/delete"),
                &[("confirm", "yes"), ("object", "a.txt")],
                objects,
            ),
            // Done: sent on to the presigned URL at moto.
            BucketOp::Download => post(
                format!("{objects}/objects/download"),
                &[("object", "a.txt")],
                format!("{}/{KEPT}/", self.s3.as_deref().unwrap_or_default()),
            ),
            BucketOp::Upload => PageRequest {
                call: PageCall::Upload,
                ..post(format!("{objects}/objects/upload"), &[], objects)
            },
        }
    }

    /// Puts the buckets back: `kept` holding `a.txt` only, `spare` empty, `full` holding
    /// `f.txt`, and no other.
    pub(super) async fn restore_buckets(&self) {
        let Some(s3) = &self.s3 else { return };
        let http = reqwest::Client::new();
        let send = async |method: Method, path: &str, body: &'static str| -> String {
            let response = http
                .request(method.clone(), format!("{s3}/{path}"))
                // Not checked, but an anonymous request may not write.
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=restore/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
                )
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            assert!(status.is_success(), "{method} {path}: {status} {text}");
            text
        };
        let names = |xml: &str, tag: &str| -> Vec<String> {
            let open = format!("<{tag}>");
            xml.split(&open)
                .skip(1)
                .filter_map(|rest| rest.split_once(&format!("</{tag}>")))
                .map(|(name, _)| name.to_string())
                .collect()
        };
        let buckets = names(&send(Method::GET, "", "").await, "Name");
        let wanted = [(KEPT, Some("a.txt")), (SPARE, None), (FULL, Some("f.txt"))];
        for bucket in &buckets {
            let objects = names(
                &send(Method::GET, &format!("{bucket}?list-type=2"), "").await,
                "Key",
            );
            let keep = wanted.iter().find(|(name, _)| name == bucket);
            for object in objects {
                if keep.is_none_or(|(_, kept)| *kept != Some(object.as_str())) {
                    send(Method::DELETE, &format!("{bucket}/{object}"), "").await;
                }
            }
            if keep.is_none() {
                send(Method::DELETE, bucket, "").await;
            }
        }
        for (bucket, object) in wanted {
            if !buckets.iter().any(|b| b == bucket) {
                send(Method::PUT, bucket, "").await;
            }
            if let Some(object) = object {
                send(Method::PUT, &format!("{bucket}/{object}"), "x").await;
            }
        }
    }
}
